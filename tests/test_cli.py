"""The ``netdsl`` command through click's CliRunner: every verb and flag, exit codes, streams.

Summary renderings are golden files (``tests/golden/summary/NAME.net`` → ``NAME.txt``),
regenerated with ``NETDSL_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import EXAMPLES, GOLDEN, SEED, has_layers

from netdsl import __version__
from netdsl.tools import cli
from netdsl.tools.cli import terminal
from netdsl.tools.cli.group import VERBS

UPDATE = os.environ.get("NETDSL_UPDATE_GOLDEN", "") not in ("", "0")
SUMMARIES = sorted((GOLDEN / "summary").glob("*.net"))
BAD = "epochz: 1\ndense 64 relu6x -> dropout 1.5 -> dense 10 softmax\n"


def run(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """``netdsl --no-plugins ARGS`` (the built-in vocabulary only, so output is deterministic)."""
    result = CliRunner().invoke(cli.main, ["--no-plugins", *args], input=stdin, env=env)
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    f = tmp_path / "seed.net"
    f.write_text(SEED)
    return f


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    f = tmp_path / "bad.net"
    f.write_text(BAD)
    return f


# --- global ----------------------------------------------------------------------------------------


def test_version() -> None:
    r = run("--version")
    assert r.exit_code == 0 and r.stdout == f"netdsl, version {__version__}\n"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(flag: str) -> None:
    r = run(flag)
    assert r.exit_code == 0
    for verb in ("check", "fmt", "summary", "run", "plugins"):
        assert f"  {verb} " in r.stdout


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_help_on_every_verb(verb: str) -> None:
    for flag in ("--help", "-h"):
        r = run(verb, flag)
        assert r.exit_code == 0
        first = r.stdout.splitlines()[0]
        assert first.startswith("Usage: ") and f" {verb} [OPTIONS]" in first
        assert "Options:" in r.stdout and "--help" in r.stdout


def test_no_verb_shows_usage() -> None:
    r = CliRunner().invoke(cli.main, [])
    assert r.exit_code in (0, 2) and "Usage:" in r.output


def test_unknown_verb() -> None:
    r = run("chek")
    assert r.exit_code == 2 and "No such command" in r.stderr


# --- check -----------------------------------------------------------------------------------------


def test_check_ok(seed: Path) -> None:
    r = run("check", str(seed))
    assert r.exit_code == 0
    assert r.stdout == f"{seed}: ok (3 layers, 50,890 parameters)\n" and r.stderr == ""


def test_check_example() -> None:
    r = run("check", str(EXAMPLES / "mnist.net"))
    assert r.exit_code == 0 and "50,890 parameters" in r.stdout


def test_check_errors_go_to_stderr(bad: Path) -> None:
    r = run("check", str(bad))
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith(f"{bad}:1:1: error[NDL004]: unknown setting `epochz`\n")
    assert r.stderr.count("error[NDL") == 3 and r.stderr.endswith("3 errors\n")
    assert "\x1b[" not in r.stderr, "no colour when stderr is not a terminal"


def test_check_several_files(seed: Path, bad: Path) -> None:
    r = run("check", str(seed), str(bad), str(seed))
    assert r.exit_code == 1
    assert r.stdout.count(": ok (3 layers") == 2
    assert r.stderr.count("error[NDL") == 3


def test_check_stdin() -> None:
    r = run("check", "-", stdin=SEED)
    assert r.exit_code == 0 and r.stdout == "-: ok (3 layers, 50,890 parameters)\n"
    r = run("check", "-", stdin="dense 10 relu6x\n")
    assert r.exit_code == 1 and r.stderr.startswith("<stdin>:1:10: error[NDL003]")


def test_check_stdin_bytes_that_are_not_utf8() -> None:
    r = run("check", "-", stdin=b"dense 64 \xff\n")
    assert r.exit_code == 1 and "error[NDL009]" in r.stderr and "(byte 0xff)" in r.stderr


def test_check_json_ok(seed: Path) -> None:
    r = run("check", "--json", str(seed))
    assert r.exit_code == 0 and r.stderr == ""
    assert json.loads(r.stdout) == {
        "files": [{"file": str(seed), "ok": True, "errors": [], "layers": 3, "params": 50890}]
    }


def test_check_json_errors(seed: Path, bad: Path) -> None:
    r = run("check", "--json", str(bad), str(seed))
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    first, second = data["files"]
    assert (first["file"], first["ok"]) == (str(bad), False)
    assert [e["code"] for e in first["errors"]] == ["NDL004", "NDL003", "NDL005"]
    e = first["errors"][1]
    assert set(e) == {
        "code",
        "severity",
        "message",
        "file",
        "span",
        "label",
        "expected",
        "help",
        "notes",
    }
    assert (
        e["message"] == "unknown name `relu6x` for `dense`" and e["help"] == "did you mean `relu6`?"
    )
    assert e["span"] == {
        "start": 19,
        "end": 25,
        "line": 2,
        "column": 10,
        "end_line": 2,
        "end_column": 16,
    }
    assert e["file"] == str(bad) and e["severity"] == "error"
    assert second["ok"] is True


def test_check_json_with_notes(tmp_path: Path) -> None:
    f = tmp_path / "n.net"
    f.write_text("(dense 64 relu\n")
    data = json.loads(run("check", "--json", str(f)).stdout)
    (e,) = data["files"][0]["errors"]
    assert e["notes"] == [
        {
            "file": str(f),
            "label": "`(` opened here",
            "span": {"start": 0, "end": 1, "line": 1, "column": 1, "end_line": 1, "end_column": 2},
        }
    ]


def test_check_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.net"
    r = run("check", str(missing))
    assert r.exit_code == 1 and "Could not open file" in r.stderr and "nope.net" in r.stderr


def test_check_directory(tmp_path: Path) -> None:
    r = run("check", str(tmp_path))
    assert r.exit_code == 1 and "Could not open file" in r.stderr


def test_check_needs_a_file() -> None:
    r = run("check")
    assert r.exit_code == 2 and "Missing argument" in r.stderr


def test_colour_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(terminal.sys, "stderr", Tty())
    assert terminal.color() is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert terminal.color() is False


def test_colour_on_a_terminal(bad: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal, "color", lambda: True)
    r = CliRunner().invoke(cli.main, ["--no-plugins", "check", str(bad)], color=True)
    assert r.exit_code == 1 and "\x1b[1;31merror[NDL004]\x1b[0m" in r.stderr


# --- summary ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SUMMARIES, ids=[p.stem for p in SUMMARIES])
def test_summary_golden(path: Path) -> None:
    if path.stem == "conv" and not has_layers("conv2d", "residual", "concat", "global_avgpool2d"):
        pytest.skip("needs the convolution layers")
    r = run("summary", str(path))
    assert r.exit_code == 0 and r.stderr == ""
    golden = path.with_suffix(".txt")
    if UPDATE:
        golden.write_text(r.stdout, encoding="utf-8")
    assert r.stdout == golden.read_text(encoding="utf-8")


def test_summary_of_the_seed(seed: Path) -> None:
    out = run("summary", str(seed)).stdout
    lines = out.splitlines()
    assert "(None, 28, 28, 1)" in lines[2]
    assert [ln.split()[-1] for ln in lines[3:6]] == ["0", "50,240", "650"]
    assert "(None, 784)" in lines[3] and "(None, 64)" in lines[4] and "(None, 10)" in lines[5]
    assert lines[7].startswith("total parameters") and lines[7].endswith("50,890")


def test_summary_stdin() -> None:
    r = run("summary", "-", stdin=SEED)
    assert r.exit_code == 0 and "50,890" in r.stdout


def test_summary_json(seed: Path) -> None:
    r = run("summary", "--json", str(seed))
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert set(data) == {
        "file",
        "settings",
        "data",
        "labels",
        "input_shape",
        "output_shape",
        "layers",
        "total_params",
        "backend",
        "sizes",
        "steps_per_epoch",
        "total_steps",
    }
    assert data["sizes"] == {"train": 60_000, "validation": 0, "test": None}
    assert data["steps_per_epoch"] == 1875 and data["total_steps"] == 18_750
    assert data["data"]["target"] == {"kind": "classes", "num_classes": 10, "shape": []}
    assert data["total_params"] == 50890 and data["input_shape"] == [28, 28, 1]
    assert data["output_shape"] == [10]
    assert [(x["layer"], x["output_shape"], x["params"]) for x in data["layers"]] == [
        ("flatten", [784], 0),
        ("dense", [64], 50240),
        ("dense", [10], 650),
    ]
    assert data["layers"][1]["args"]["activation"]["name"] == "relu"
    assert data["settings"]["epochs"] == 10 and data["settings"]["optimizer"]["name"] == "adam"


def test_summary_error(bad: Path) -> None:
    r = run("summary", str(bad))
    assert r.exit_code == 1 and r.stdout == "" and r.stderr.count("error[NDL") == 3


def test_summary_json_error(bad: Path) -> None:
    r = run("summary", "--json", str(bad))
    assert r.exit_code == 1 and r.stdout == "" and "error[NDL004]" in r.stderr


def test_summary_file_not_found(tmp_path: Path) -> None:
    r = run("summary", str(tmp_path / "nope.net"))
    assert r.exit_code == 1 and "Could not open file" in r.stderr


# --- fmt (more in test_format.py) ----------------------------------------------------------------------


def test_fmt_basics(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text("dense 64 relu l2->dense 10 softmax")
    assert run("fmt", str(f)).stdout == SEED
    assert run("fmt", "--check", str(f)).exit_code == 1
    assert run("fmt", "--write", str(f)).exit_code == 0
    assert run("fmt", "--check", str(f)).exit_code == 0
    assert f.read_text() == SEED


def test_fmt_file_not_found(tmp_path: Path) -> None:
    r = run("fmt", str(tmp_path / "nope.net"))
    assert r.exit_code == 1 and "Could not open file" in r.stderr


# --- plugins (the verb exists; its details belong to the plugin tests) --------------------------------


def test_plugins_component_and_suggestion() -> None:
    r = run("plugins", "dense")
    assert r.exit_code == 0 and "units" in r.stdout
    r = run("plugins", "dens")
    assert r.exit_code == 1 and "did you mean `dense`?" in r.stderr


# --- nothing ever escapes as a traceback --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\xff\xfe\x00",
        b"(" * 5000,
        b"dense 64 relu -> -> dense 10",
        b"(dense 1) * 99999999999",
        b"\x00\x01\x02",
        "\u2028\u2029".encode(),
        b"block a = a\na",
        b"dense 64 relu l2 -> dense 10 softmax\r\n",
    ],
)
@pytest.mark.parametrize(
    "verb",
    [
        ["check"],
        ["check", "--json"],
        ["fmt"],
        ["fmt", "--check"],
        ["summary"],
        ["summary", "--json"],
    ],
    ids=" ".join,
)
def test_any_input_exits_0_or_1(verb: list[str], text: bytes) -> None:
    r = run(*verb, "-", stdin=text)
    assert r.exit_code in (0, 1)
    if r.exit_code == 1:
        assert r.stderr.strip() or r.stdout.strip()
