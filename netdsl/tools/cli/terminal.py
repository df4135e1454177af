"""What every ``netdsl`` verb shares with the terminal: the global options and the registry
(:class:`State`), colour, reading a program, writing an output file, and rendering errors.

Only ``click`` is imported here; the library is imported inside the functions that use it, so
that ``netdsl --help`` stays fast and never loads TensorFlow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:  # pragma: no cover
    from netdsl.errors import NetdslError
    from netdsl.lang.ir import Program
    from netdsl.vocab.registry import Registry

__all__ = [
    "State",
    "color",
    "fail",
    "fail_text",
    "load",
    "quiet_tensorflow",
    "read",
    "report",
    "styled",
    "write_new",
]


class State:
    """Options shared by every verb, and the registry, loaded on first use."""

    def __init__(self, verbose: bool, no_plugins: bool, strict: bool) -> None:
        self.verbose = verbose
        self.no_plugins = no_plugins
        self.strict = strict or None
        self._registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        """Built-ins and (unless ``--no-plugins``) installed plugins; a plugin problem is a
        warning, or under ``--strict-plugins`` an error for the command's handler."""
        if self._registry is None:
            from netdsl.vocab.registry import load_registry

            self._registry = load_registry(
                third_party=not self.no_plugins,
                strict=self.strict,
                on_problem=self._warn,
                on_notice=self._notice,
            )
            if self.verbose:
                for info in self._registry.slow_plugins():
                    click.echo(
                        f"note: plugin {info.provider} took {info.seconds:.1f} s to load "
                        f"({info.provider.plugin})",
                        err=True,
                    )
        return self._registry

    def _notice(self, message: str) -> None:
        click.echo(styled(f"warning: {message}", "yellow"), err=True)

    def _warn(self, err: NetdslError) -> None:
        click.echo(styled(f"warning: {err.message}", "yellow"), err=True)
        tb = getattr(err, "traceback", None)
        if self.verbose and tb:
            click.echo(tb.rstrip(), err=True)


def color() -> bool:
    """Whether standard error takes colour (a terminal, and no ``NO_COLOR``)."""
    return "NO_COLOR" not in os.environ and sys.stderr.isatty()


def styled(text: str, fg: str) -> str:
    """``text`` in bold ``fg`` where standard error takes colour."""
    return click.style(text, fg=fg, bold=True) if color() else text


def fail(errors: Iterable[NetdslError], code: int = 1) -> NoReturn:
    """Render ``errors`` on standard error, in the order given, and exit with ``code``."""
    from netdsl.lang.diagnostics import render_all

    click.echo(render_all(errors, color=color()), err=True)
    sys.exit(code)


def report(error: NetdslError, verbose: bool) -> NoReturn:
    """The one way a command's :class:`~netdsl.errors.NetdslError` reaches the terminal: the
    traceback an internal failure carries (with ``-v``), then every error it stands for; exit 1."""
    tb = getattr(error, "traceback", None)
    if verbose and tb:
        click.echo(tb.rstrip(), err=True)
    fail(error.errors)


def fail_text(message: str) -> NoReturn:
    """An ``error: message`` line for a problem with no source position, and exit 1."""
    click.echo(styled("error", "red") + f": {message}", err=True)
    sys.exit(1)


def read(path: str) -> tuple[bytes, str]:
    """The bytes of a file (``-`` is standard input) and the name errors should show.

    Reads at most one byte more than :data:`netdsl.lang.parser.MAX_INPUT_BYTES` (10 MB), so
    ``/dev/zero`` or a huge file is refused (``NDL012``) without being read whole."""
    from netdsl.lang.parser import MAX_INPUT_BYTES, check_size

    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)  # bytes: the parser reports bad UTF-8 itself
        if stream is not None:
            data = stream.read(MAX_INPUT_BYTES + 1)
        else:
            data = sys.stdin.read(MAX_INPUT_BYTES + 1).encode("utf-8", "surrogateescape")
        name = "<stdin>"
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
        except OSError as e:
            raise click.FileError(path, hint=e.strerror) from None
        name = path
    check_size(len(data), name)
    return data, name


def load(path: str) -> Program:
    """The parsed program in ``path`` (``-`` is standard input)."""
    from netdsl.lang.parser import parse
    from netdsl.vocab.settings import TABLE

    data, name = read(path)
    return parse(data, name, setting_names=TABLE)


def write_new(path: str, data: str | bytes, force: bool) -> None:
    """Write an output file; an existing file is kept unless ``--force`` (nothing is lost)."""
    if os.path.exists(path) and not force:
        click.echo(
            f"error: {path} exists; choose another -o or pass --force to replace it", err=True
        )
        sys.exit(1)
    try:
        if isinstance(data, bytes):
            with open(path, "wb") as fb:
                fb.write(data)
        else:
            with open(path, "w", encoding="utf-8") as ft:
                ft.write(data)
    except OSError as e:
        raise click.FileError(path, hint=e.strerror) from None


def quiet_tensorflow(state: State) -> None:
    """TensorFlow's C++ log lines only with -v."""
    if not state.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
