"""The ``netdsl`` command: a thin layer that turns terminal input into library calls and back.

Nothing heavy is imported at module level: ``netdsl --help`` and ``netdsl check`` never load
TensorFlow; ``netdsl run`` does, through :mod:`netdsl.training`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import __version__

if TYPE_CHECKING:  # pragma: no cover
    from .errors import NetdslError
    from .registry import Registry

__all__ = ["main"]


class _State:
    """Options shared by every verb, and the registry, loaded on first use."""

    def __init__(self, verbose: bool, no_plugins: bool, strict: bool) -> None:
        self.verbose = verbose
        self.no_plugins = no_plugins
        self.strict = strict or None
        self._registry: Registry | None = None

    @property
    def registry(self) -> "Registry":
        if self._registry is None:
            from .errors import NetdslError
            from .registry import load_registry

            try:
                self._registry = load_registry(third_party=not self.no_plugins, strict=self.strict,
                                               on_problem=self._warn)
            except NetdslError as e:
                _fail([e])
        return self._registry

    def _warn(self, err: "NetdslError") -> None:
        click.echo(_styled(f"warning: {err.message}", "yellow"), err=True)
        tb = getattr(err, "traceback", None)
        if self.verbose and tb:
            click.echo(tb.rstrip(), err=True)


def _color() -> bool:
    return "NO_COLOR" not in os.environ and sys.stderr.isatty()


def _styled(text: str, fg: str) -> str:
    return click.style(text, fg=fg, bold=True) if _color() else text


def _fail(errors: "list[NetdslError]", code: int = 1) -> NoReturn:
    from .diagnostics import render_all

    click.echo(render_all(errors, color=_color()), err=True)
    sys.exit(code)


def _read(path: str) -> tuple[bytes, str]:
    """The bytes of a file (``-`` is standard input) and the name errors should show.

    Reads at most one byte more than :data:`netdsl.parser.MAX_INPUT_BYTES` (10 MB), so
    ``/dev/zero`` or a huge file is refused (``NDL012``) without being read whole."""
    from .parser import MAX_INPUT_BYTES, check_size

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


def _load(path: str) -> Any:
    from .parser import parse

    data, name = _read(path)
    return parse(data, name)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="netdsl")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of failing plugins.")
@click.option("--no-plugins", is_flag=True, help="Load only the built-in vocabulary.")
@click.option("--strict-plugins", is_flag=True, envvar="NETDSL_STRICT_PLUGINS",
              help="Make any plugin problem fatal (also NETDSL_STRICT_PLUGINS=1).")
@click.pass_context
def main(ctx: click.Context, verbose: bool, no_plugins: bool, strict_plugins: bool) -> None:
    """Describe, check and train neural networks from one line of text.

    \b
      netdsl check model.net       check a model, with compiler-grade errors
      netdsl summary model.net     layers, output shapes, parameter counts
      netdsl run model.net         train, evaluate, save
    """
    ctx.obj = _State(verbose, no_plugins, strict_plugins)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON on stdout.")
@click.option("--data", type=click.Path(), help="The file or folder holding the dataset (its metadata is read).")
@click.option("--backend", type=click.Choice(["tensorflow", "jax"]),
              help="Also check that every component runs on this Keras backend.")
@click.pass_obj
def check(state: _State, files: tuple[str, ...], as_json: bool, data: str | None,
          backend: str | None) -> None:
    """Check FILES (`-` reads standard input); exit 1 if any has an error."""
    from .backends import problems as backend_problems
    from .checker import check as check_program
    from .diagnostics import render_all
    from .errors import NetdslError, NetdslErrors

    results: list[dict[str, Any]] = []
    failed: list[NetdslError] = []
    for path in files:
        try:
            model = check_program(_load(path), state.registry, data=data)
            found = backend_problems(model, backend) if backend else []
            if found:
                raise found[0] if len(found) == 1 else NetdslErrors(found)
        except NetdslError as e:
            failed.extend(e.errors)
            results.append({"file": path, "ok": False, "errors": [x.to_dict() for x in e.errors]})
            continue
        results.append({"file": path, "ok": True, "errors": [], "layers": len(model.nodes),
                        "params": model.total_params})
        if not as_json:
            click.echo(f"{path}: ok ({len(model.nodes)} layers, {model.total_params:,} parameters)")
    if as_json:
        click.echo(json.dumps({"files": results}, indent=2))
    elif failed:
        click.echo(render_all(failed, color=_color()), err=True)
    if failed:
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the IR as JSON (Program.to_dict()).")
def parse(file: str, as_json: bool) -> None:
    """Parse FILE (syntax only, no registry; `-` reads standard input) and print what it holds:
    a short account, or with --json the IR. Exit 1 with diagnostics on stderr if it does not parse."""
    from .errors import NetdslError

    try:
        program = _load(file)
    except NetdslError as e:
        _fail(list(e.errors))
    if as_json:
        click.echo(json.dumps(program.to_dict(), indent=2))
        return
    steps = _count_steps(program.network) if program.network else 0
    parts = [f"{len(program.settings)} setting{'s' if len(program.settings) != 1 else ''}",
             f"{len(program.blocks)} block{'s' if len(program.blocks) != 1 else ''}",
             f"a network of {steps} step{'s' if steps != 1 else ''}" if program.network else "no network"]
    click.echo(f"{file}: parsed ({', '.join(parts)})")
    from .formatter import format as format_program

    click.echo(format_program(program), nl=False)


def _count_steps(chain: Any) -> int:
    """Steps in a chain, counting those inside groups, branches and wrappers."""
    from . import ir

    total = 0
    for step in chain.steps:
        total += 1
        if isinstance(step, ir.Repeat):
            total += _count_steps(step.chain)
        elif isinstance(step, ir.Branches):
            total += sum(_count_steps(c) for c in step.chains)
        elif isinstance(step, ir.Layer):
            total += sum(_count_steps(c) for c in step.body)
    return total


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if a file is not canonical.")
@click.option("--write", is_flag=True, help="Rewrite each file in place (comments are kept).")
def fmt(files: tuple[str, ...], check_only: bool, write: bool) -> None:
    """Print FILES in canonical form (`-` reads standard input)."""
    from .errors import NetdslError
    from .formatter import format as format_program

    if check_only and write:
        raise click.UsageError("--check and --write do not go together")
    if write and "-" in files:
        raise click.UsageError("--write cannot rewrite standard input")
    changed: list[str] = []
    errors: list[NetdslError] = []
    unwritten: list[str] = []
    for path in files:
        try:
            program = _load(path)
        except NetdslError as e:
            errors.extend(e.errors)
            continue
        text = format_program(program)
        original = program.source or ""
        crlf = "\r\n" in original
        if crlf:
            text = text.replace("\n", "\r\n")
        if text != original:
            changed.append(path)
        if check_only:
            continue
        if write:
            if text != original:
                try:
                    _write_atomic(path, text)
                except OSError as e:
                    click.echo(f"error: cannot write {path}: {e.strerror or e}", err=True)
                    unwritten.append(path)
                    continue
                click.echo(f"formatted {path}", err=True)
        else:
            click.echo(text, nl=False)
    if errors:
        _fail(errors)
    if unwritten:
        sys.exit(1)
    if check_only and changed:
        for path in changed:
            click.echo(f"would reformat {path}", err=True)
        sys.exit(1)


def _write_atomic(path: str, text: str) -> None:
    """Write a sibling temporary file (same permissions), then rename it over ``path``: a crash
    or a full disk leaves either the old file or the new one, never half of one."""
    import shutil
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".netdsl-", suffix=".tmp", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        try:
            shutil.copymode(path, tmp)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@main.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the checked model as JSON.")
@click.option("--data", type=click.Path(), help="The file or folder holding the dataset (its metadata is read).")
@click.pass_obj
def summary(state: _State, file: str, as_json: bool, data: str | None) -> None:
    """Show FILE's layers, output shapes and parameter counts (`-` reads standard input)."""
    from .checker import check as check_program
    from .errors import NetdslError
    from .summary import summary_text

    try:
        model = check_program(_load(file), state.registry, data=data)
    except NetdslError as e:
        _fail(list(e.errors))
    if as_json:
        click.echo(json.dumps(model.to_dict(), indent=2))
    else:
        click.echo(summary_text(model))


@main.command()
@click.argument("name", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include the built-in vocabulary.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def plugins(state: _State, name: str | None, show_all: bool, as_json: bool) -> None:
    """List plugins and the names they add, or show the component NAME."""
    from .plugins_view import component_text, components_json, plugins_json, plugins_text

    registry = state.registry
    if name:
        found = components_json(registry, name)
        if not found:
            from .registry import suggest

            pool = [e.component.name for e in registry.entries()]
            close = suggest(name, pool)
            click.echo(f"error: no component named `{name}`"
                       + (f"; did you mean `{close}`?" if close else ""), err=True)
            sys.exit(1)
        click.echo(json.dumps(found, indent=2) if as_json else component_text(registry, name))
        return
    if as_json:
        click.echo(json.dumps(plugins_json(registry, show_all), indent=2))
    else:
        click.echo(plugins_text(registry, show_all))


def _setting_options(command: Any) -> Any:
    """One ``--NAME`` override per setting the table marks as a flag; the table's own type
    validates the value (click only reads a number)."""
    from .settings import SETTINGS
    from . import types as T

    for row in reversed([r for r in SETTINGS if r.flag]):
        kind = int if isinstance(row.type, T.Int) else float if isinstance(row.type, T.Float) else str
        command = click.option(row.option, row.name, type=kind, default=None,
                               help=f"Override the program's `{row.name}:` ({row.help}).")(command)
    return command


@main.command()
@click.argument("file", type=click.Path(allow_dash=True))
@_setting_options
@click.option("--data", type=click.Path(),
              help="The file or folder holding the program's dataset (default: the dataset's own "
                   "environment variable, e.g. $NETDSL_MNIST, then Keras's cache).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Where run folders are created.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option("--steps-per-execution", type=click.IntRange(min=1, max=1 << 20),
              help="Batches per call of the compiled training step (default 16). Higher is faster "
                   "for small models (see BENCHMARKS.md); same weights for a given seed, coarser "
                   "progress bar.")
@click.option("--jit/--no-jit", "jit", default=None,
              help="Compile the training step with XLA. Default: Keras's choice (off on a CPU-only "
                   "machine, where it measured no faster; see BENCHMARKS.md).")
@click.option("--threads", type=click.IntRange(min=1, max=4096),
              help="TensorFlow threads (intra- and inter-op). Default: TensorFlow's (every core).")
@click.option("--distribute", is_flag=True,
              help="Train data-parallel on every device of this machine (MirroredStrategy on "
                   "tensorflow, DataParallel on jax). The batch size is the global batch.")
@click.option("--coordinator", metavar="HOST:PORT",
              help="Multi-process training (jax backend): process 0's address and port, the same "
                   "for every process. Default: $KERAS_DISTRIBUTION_JOB_ADDRESSES or "
                   "$JAX_COORDINATOR_ADDRESS.")
@click.option("--num-processes", type=click.IntRange(min=1, max=1 << 16),
              help="Multi-process: how many processes (default: $KERAS_DISTRIBUTION_NUM_PROCESSES).")
@click.option("--process-id", type=click.IntRange(min=0, max=1 << 16),
              help="Multi-process: this process, 0..N-1; 0 writes the run folder "
                   "(default: $KERAS_DISTRIBUTION_PROCESS_ID).")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Multi-process: seconds to wait for the others to join, or for a silent one, "
                   "before stopping with an error (default 60).")
@click.pass_obj
def run(state: _State, file: str, data: str | None, out_dir: str, quiet: bool,
        steps_per_execution: int | None, jit: bool | None, threads: int | None, distribute: bool,
        coordinator: str | None, num_processes: int | None, process_id: int | None,
        timeout: float | None, **overrides: Any) -> None:
    """Train FILE's model, evaluate it on the test set and save the run.

    --steps-per-execution, --jit and --threads change how fast training runs on this machine,
    never what the model is; metrics.json records them. --distribute and the multi-process
    options are described in docs/distributed.md.
    """
    from .checker import check as check_program
    from .errors import NetdslError

    if not state.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log lines: with -v only
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    try:
        model = check_program(_load(file), state.registry, data=data)
        model = model.replace(**{k: v for k, v in overrides.items() if v is not None})
        from .backends import problems as backend_problems, resolve
        from .distribute import Cluster
        from .training import TrainOptions, run_model

        found = backend_problems(model, resolve(model.settings["backend"]))
        if found:
            _fail(found)
        cluster = Cluster.resolve(coordinator, num_processes, process_id, timeout)
        speed = {"steps_per_execution": steps_per_execution} if steps_per_execution else {}
        options = TrainOptions(**speed, jit_compile=jit, threads=threads, distribute=distribute,
                               cluster=cluster)
        report = run_model(model, data=data, out_dir=out_dir, quiet=quiet,
                           echo=lambda text: click.echo(text, err=True), options=options)
    except NetdslError as e:
        _fail(list(e.errors))
    click.echo(report.text())
    if report.stopped:
        sys.exit(130 if report.stopped == "interrupted" else 1)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-n", "--num-processes", "n", type=click.IntRange(min=1, max=64), required=True,
              help="How many processes to start.")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds the others may run on after one has failed (then they are killed); "
                   "also each process's --timeout.")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_obj
def launch(state: _State, n: int, timeout: float, run_args: tuple[str, ...]) -> None:
    """Start N local processes of one multi-process `netdsl run` and collect their output.

    \b
      netdsl launch -n 2 model.net --epochs 1 --seed 1
    Every process gets 127.0.0.1 and a free port as coordinator, N, and its id; the jax backend
    unless --backend says otherwise. For several machines, see docs/distributed.md.
    """
    from .launch import launch as start

    cli_args = [*(["-v"] if state.verbose else []), *(["--no-plugins"] if state.no_plugins else []),
                *(["--strict-plugins"] if state.strict else [])]
    result = start(n, list(run_args), cli_args=cli_args, timeout=timeout)
    if result.ok:
        prints = set(result.weights.values())
        same = (f"; the same weights in every process ({prints.pop()})" if len(prints) == 1
                and len(result.weights) == n else "")
        click.echo(f"launch: all {n} processes finished{same}")
    else:
        codes = ", ".join(f"process {i}: {rc}" for i, rc in enumerate(result.returncodes))
        click.echo(f"launch: failed ({codes})", err=True)
    sys.exit(result.returncode)


@main.command()
@click.option("--stdio", is_flag=True, help="Talk over standard input/output (the default and only transport).")
@click.pass_obj
def lsp(state: _State, stdio: bool) -> None:
    """Run the language server (for editors) on standard input/output."""
    try:
        from .lsp import main as serve
    except ImportError as e:
        click.echo(f"error: the language server needs pygls ({e.name or e}): pip install 'netdsl[lsp]'", err=True)
        sys.exit(1)
    serve(third_party=not state.no_plugins, strict=state.strict)


if __name__ == "__main__":  # pragma: no cover
    main()
