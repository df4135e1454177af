"""The ``netdsl`` command group itself: verbs loaded only when they run, one error handler for
every verb, choices read from the tables they name, boolean settings as on/off flags.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from netdsl.errors import NetdslTrainingError
from netdsl.keras.export import FORMATS as EXPORT_FORMATS
from netdsl.run.runs import STATUSES
from netdsl.tools.cli import commands, main
from netdsl.tools.cli.group import COMMANDS_PACKAGE, VERBS
from netdsl.tools.diagram import FORMATS as DIAGRAM_FORMATS
from netdsl.tools.runs_view import SORT_KEYS
from netdsl.vocab import types as T
from netdsl.vocab.backends import BACKENDS
from netdsl.vocab.settings import SETTINGS

COMMANDS_DIR = Path(commands.__file__).parent
FLAG_ROWS = [r for r in SETTINGS if r.flag]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["--no-plugins", *args])


def verb(name: str) -> click.Command:
    """The real command of a verb (importing its module, as running it would)."""
    command = main.get_command(click.Context(main), name)
    assert command is not None, name
    return command


# --- lazily loaded verbs ------------------------------------------------------------------------


def test_every_command_module_is_a_verb_and_every_verb_a_module() -> None:
    modules = {m.name for m in pkgutil.iter_modules([str(COMMANDS_DIR)])}
    assert modules == set(VERBS)


@pytest.mark.parametrize("name", sorted(VERBS))
def test_the_listed_summary_is_the_commands_own(name: str) -> None:
    """``netdsl --help`` lists a verb from VERBS without importing it: at every width it must
    show what click would show from the command's docstring."""
    command = verb(name)
    assert command.name == name
    listed = click.Command(name, help=VERBS[name])
    for limit in (20, 45, 60, 67, 74, 120, 1000):
        assert listed.get_short_help_str(limit) == command.get_short_help_str(limit), limit


def _loaded_after(args: list[str]) -> list[str]:
    """The ``netdsl.tools.cli.commands`` modules and heavy packages a fresh interpreter has
    loaded after running ``netdsl ARGS``."""
    code = textwrap.dedent(f"""
        import sys
        from netdsl.tools.cli import main
        try:
            main({args!r}, prog_name="netdsl")
        except SystemExit:
            pass
        print("@@", *sorted(m for m in sys.modules if m.startswith("{COMMANDS_PACKAGE}")
                            or m.split(".")[0] in ("tensorflow", "keras", "numpy")))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.rpartition("@@")[2].split()


def test_help_imports_no_verb() -> None:
    assert _loaded_after(["--help"]) == []


def test_a_verb_imports_only_its_own_module(tmp_path: Path) -> None:
    program = tmp_path / "m.net"
    program.write_text("dataset: synthetic\ninput: 4\ndense 10 softmax\n")
    assert _loaded_after(["--no-plugins", "check", str(program)]) == [
        COMMANDS_PACKAGE,
        f"{COMMANDS_PACKAGE}.check",
    ]


def test_an_unknown_verb_is_a_usage_error() -> None:
    r = invoke("chek")
    assert r.exit_code == 2 and "No such command 'chek'" in r.stderr


# --- one error handler --------------------------------------------------------------------------


def _handlers(path: Path) -> list[ast.ExceptHandler]:
    """The ``except`` clauses of a module that catch a NetdslError (or a subclass by name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ExceptHandler)
        and node.type is not None
        and "Netdsl" in ast.unparse(node.type)
    ]


@pytest.mark.parametrize("path", sorted(COMMANDS_DIR.glob("*.py")), ids=lambda p: p.stem)
def test_no_command_renders_its_own_errors(path: Path) -> None:
    """A verb lets a NetdslError through to the group. The only catch left is one that collects
    a file's errors and goes on to the next file (``check``, ``fmt`` with several files)."""
    for handler in _handlers(path):
        assert any(isinstance(n, ast.Continue) for n in ast.walk(handler)), (
            f"{path.name}:{handler.lineno} handles a NetdslError itself"
        )


class _Internal(NetdslTrainingError):
    """An error carrying the traceback of what failed inside (as training's are)."""

    traceback = "Traceback (most recent call last):\n  inner failure\n"


def _boom(error: BaseException) -> click.Command:
    @click.command("boom")
    def boom() -> None:
        raise error

    return boom


@pytest.mark.parametrize(
    ("args", "shows_traceback"), [([], False), (["-v"], True)], ids=["plain", "verbose"]
)
def test_the_group_renders_a_netdsl_error_once(
    monkeypatch: pytest.MonkeyPatch, args: list[str], shows_traceback: bool
) -> None:
    error = _Internal("the step failed", code="NDL300", help="try a smaller batch")
    monkeypatch.setitem(main.commands, "boom", _boom(error))
    r = CliRunner().invoke(main, [*args, "--no-plugins", "boom"])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit)
    assert r.stdout == ""
    assert r.stderr.count("error[NDL300]: the step failed") == 1
    assert "= help: try a smaller batch" in r.stderr
    assert ("inner failure" in r.stderr) is shows_traceback


def test_the_group_renders_every_error_of_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from netdsl.errors import NetdslErrors

    errors = NetdslErrors(
        [NetdslTrainingError("first", code="NDL300"), NetdslTrainingError("second", code="NDL301")]
    )
    monkeypatch.setitem(main.commands, "boom", _boom(errors))
    r = CliRunner().invoke(main, ["boom"])
    assert r.exit_code == 1
    assert "error[NDL300]: first" in r.stderr and "error[NDL301]: second" in r.stderr
    assert r.stderr.rstrip().endswith("2 errors")


def test_other_exceptions_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(main.commands, "boom", _boom(RuntimeError("a bug")))
    r = CliRunner().invoke(main, ["boom"])
    assert isinstance(r.exception, RuntimeError)


def test_a_verbs_error_exits_1_through_the_group(tmp_path: Path) -> None:
    """A real verb (summary) no longer catches: the group renders its error."""
    program = tmp_path / "bad.net"
    program.write_text("dense 64 relu6x -> dense 10 softmax\n")
    r = invoke("summary", str(program))
    assert r.exit_code == 1 and r.stderr.count("error[NDL003]") == 1 and r.stdout == ""


# --- choices from the tables they name ----------------------------------------------------------


def _choices(name: str, option: str) -> list[str]:
    param = next(p for p in verb(name).params if p.name == option)
    assert isinstance(param.type, click.Choice)
    return list(param.type.choices)


@pytest.mark.parametrize(
    ("name", "option", "table"),
    [
        ("check", "backend", list(BACKENDS)),
        ("export", "fmt", list(EXPORT_FORMATS)),
        ("diagram", "fmt", list(DIAGRAM_FORMATS)),
        ("runs", "status", [*STATUSES, "resumed"]),
        ("runs", "sort", list(SORT_KEYS)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_choices_are_the_table(name: str, option: str, table: list[str]) -> None:
    assert _choices(name, option) == table


def test_the_backend_setting_takes_the_backends_table() -> None:
    """`backend:` / `run --backend` accept what BACKENDS lists (one table of backends)."""
    from netdsl.vocab.settings import TABLE

    backend = TABLE["backend"].type
    assert isinstance(backend, T.Choice) and backend.choices == tuple(BACKENDS)


# --- setting overrides from the settings table --------------------------------------------------


@pytest.mark.parametrize("row", FLAG_ROWS, ids=lambda r: r.name)
def test_every_flag_setting_is_a_run_option(row: Any) -> None:
    param = next(p for p in verb("run").params if p.name == row.name)
    assert isinstance(param, click.Option) and row.option in param.opts
    if isinstance(row.type, T.Bool):
        assert param.is_flag and param.secondary_opts == [f"--no-{row.option[2:]}"]
    assert param.default is None  # not given: the program's own value stands


def test_boolean_settings_are_flags_in_the_table() -> None:
    """A boolean setting gets a flag (the issue: `netdsl run --normalize` was no option)."""
    assert [r.name for r in SETTINGS if isinstance(r.type, T.Bool)] == ["normalize"]
    assert all(r.flag for r in SETTINGS if isinstance(r.type, T.Bool))


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``netdsl run`` up to training: the checked model it would train is captured instead."""
    from netdsl.run import driver

    seen: list[Any] = []

    def fake_run(model: Any, **kwargs: Any) -> Any:
        seen.append(model)
        return SimpleNamespace(text=lambda: "trained", stopped=None)

    monkeypatch.setattr(driver, "run_model", fake_run)
    return seen


@pytest.mark.parametrize(
    ("written", "args", "expected"),
    [
        ("", [], False),
        ("", ["--normalize"], True),
        ("normalize: true\n", [], True),
        ("normalize: true\n", ["--no-normalize"], False),
        ("normalize: false\n", ["--normalize"], True),
    ],
    ids=["default", "on", "program", "off-overrides", "on-overrides"],
)
def test_normalize_flag_overrides_the_program(
    tmp_path: Path, captured: list[Any], written: str, args: list[str], expected: bool
) -> None:
    program = tmp_path / "m.net"
    program.write_text(f"dataset: synthetic\ninput: 4\n{written}dense 10 softmax\n")
    r = invoke("run", str(program), *args, "--out", str(tmp_path / "runs"))
    assert r.exit_code == 0, r.output
    assert r.stdout == "trained\n"
    (model,) = captured
    assert model.settings["normalize"] is expected


def test_a_bad_override_is_an_error_at_the_setting(tmp_path: Path, captured: list[Any]) -> None:
    program = tmp_path / "m.net"
    program.write_text("dataset: synthetic\ninput: 4\ndense 10 softmax\n")
    r = invoke("run", str(program), "--epochs", "0")  # the table's range, checked by click
    assert r.exit_code == 2 and "Invalid value for '--epochs'" in r.stderr and not captured
    r = invoke("run", str(program), "--normalize=true")
    assert r.exit_code == 2 and not captured  # a flag takes no value


@pytest.mark.parametrize("name", sorted(VERBS))
def test_each_verb_module_defines_the_command_of_its_name(name: str) -> None:
    module = importlib.import_module(f"{COMMANDS_PACKAGE}.{name}")
    assert isinstance(getattr(module, name), click.Command)
    assert isinstance(verb(name), click.Command)


def test_netdsl_warnings_print_as_one_warning_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A label of many whole numbers is read as regression with a note: the note is a
    `warning:` line, not Python's `file:line: UserWarning:` record."""
    rows = "".join(f"{i % 7},{(i * 37) % 300 + i // 300}\n" for i in range(400))
    (tmp_path / "t.csv").write_text("a,y\n" + rows)
    (tmp_path / "m.net").write_text('dataset: csv("t.csv", label="y")\ndense 4 relu -> dense 1\n')
    from netdsl.tools.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "m.net"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "warning: t.csv: label `y`" in result.stderr
    assert "UserWarning" not in result.output + result.stderr
