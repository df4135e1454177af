"""The formatter: canonical text, idempotence, comments, and ``netdsl fmt`` on files."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, SEED
from test_parser import GOOD

import netdsl
from netdsl.lang.formatter import WIDTH
from netdsl.tools import cli

# input, canonical output
CANONICAL: list[tuple[str, str, str]] = [
    (
        "spacing",
        "dense   64  relu   l2->dense 10 softmax",
        "dense 64 relu l2 -> dense 10 softmax\n",
    ),
    ("already-canonical", SEED, SEED),
    ("empty", "", ""),
    ("blank-lines", "\n\n \n", ""),
    (
        "one-line-continued",
        "dense 64 relu\n  -> dense 10 softmax\n",
        "dense 64 relu -> dense 10 softmax\n",
    ),
    (
        "settings-then-blank-line",
        "epochs:3\nbatch_size :  8\n\n\n\ndense 10\n",
        "epochs: 3\nbatch_size: 8\n\ndense 10\n",
    ),
    (
        "sections-in-order",
        "dense 10\nepochs: 3\nblock b = dense 3\n",
        "epochs: 3\n\nblock b = dense 3\n\ndense 10\n",
    ),
    (
        "settings-keep-their-order",
        "seed: 1\nepochs: 2\ndense 10",
        "seed: 1\nepochs: 2\n\ndense 10\n",
    ),
    (
        "values",
        'f 1.0 1e-3 .5 1E5 -0.0 2.50 (1,) [ ] "a\\"b" (1,2) g( k = 1 ) 28x28 true',
        'f 1.0 0.001 0.5 100000.0 -0.0 2.5 (1,) [] "a\\"b" (1, 2) g(k=1) 28x28 true\n',
    ),
    ("float-extremes", "f 1e308 -1.7e308 1e-7", "f 1e+308 -1.7e+308 1e-07\n"),
    (
        "kwargs",
        "dense 64 use_bias = false   activation=relu",
        "dense 64 use_bias=false activation=relu\n",
    ),
    (
        "groups-and-branches",
        "(dense 3)*1 -> ( dense 4 ) * 2 -> [a|b]   concat -> [ c | d ]",
        "(dense 3) -> (dense 4) * 2 -> [a | b] concat -> [c | d]\n",
    ),
    (
        "call-form",
        "residual( dense 64 relu -> dense 64 ) -> dense(64, relu) -> conv( 32 )",
        "residual(dense 64 relu -> dense 64) -> dense(64, relu) -> conv(32)\n",
    ),
    ("call-form-order-kept", "f(x=1, 2)", "f(x=1, 2)\n"),
    (
        "blocks",
        "block  conv( f,k )=conv2d f k relu\nblock b=dense 3\nconv(1, 2)->b",
        "block conv(f, k) = conv2d f k relu\nblock b = dense 3\n\nconv(1, 2) -> b\n",
    ),
    ("block-empty-params", "block b() = dense 3\nb", "block b = dense 3\n\nb\n"),
    (
        "long-network-one-step-per-line",
        "conv2d 32 3x3 relu same -> batchnorm -> maxpool2d 2 -> conv2d 64 3x3 relu same -> batchnorm -> "
        "maxpool2d 2 -> flatten -> dense 10 softmax",
        "conv2d 32 3x3 relu same\n  -> batchnorm\n  -> maxpool2d 2\n  -> conv2d 64 3x3 relu same\n"
        "  -> batchnorm\n  -> maxpool2d 2\n  -> flatten\n  -> dense 10 softmax\n",
    ),
    (
        "comments",
        "# head\nepochs: 3 # e\n# before block\nblock h(n) = dense n relu # b\n# net\ndense 64 relu # one\n"
        "# two\n-> # three\ndense 10 softmax # four\n# tail\n",
        "# head\nepochs: 3  # e\n\n# before block\nblock h(n) = dense n relu  # b\n\n# net\n"
        "dense 64 relu  # one\n  # two\n  # three\n  -> dense 10 softmax  # four\n\n# tail\n",
    ),
    ("comment-after-one-line-network", "dense 3 -> dense 4   # end", "dense 3 -> dense 4  # end\n"),
    ("comments-only", "# a\n\n  # b\n", "# a\n# b\n"),
    ("comment-trailing-spaces", "dense 3 # x   \n", "dense 3  # x\n"),
    ("crlf-input", "epochs: 3\r\ndense 3\r\n", "epochs: 3\n\ndense 3\n"),
    ("tabs", "dense\t64\t->\tdense 10", "dense 64 -> dense 10\n"),
    ("bom", "\ufeffdense 3", "dense 3\n"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in CANONICAL], ids=[c[0] for c in CANONICAL]
)
def test_canonical(text: str, expected: str) -> None:
    program = netdsl.parse(text)
    out = netdsl.format(program)
    assert out == expected
    assert netdsl.parse(out) == program
    assert netdsl.format(netdsl.parse(out)) == out


@pytest.mark.parametrize("text", [g[1] for g in GOOD], ids=[g[0] for g in GOOD])
def test_round_trip_and_idempotence(text: str | bytes) -> None:
    program = netdsl.parse(text)
    out = netdsl.format(program)
    again = netdsl.parse(out)
    assert again == program
    assert netdsl.format(again) == out
    assert [c.text for c in again.comments] == [c.text for c in program.comments]


def test_long_lines_wrap_and_short_ones_do_not() -> None:
    short = " -> ".join(["dense 1"] * 8)
    assert len(short) <= WIDTH
    assert netdsl.format(netdsl.parse(short)) == short + "\n"
    long = " -> ".join(["dense 100"] * 10)
    assert len(long) > WIDTH
    out = netdsl.format(netdsl.parse(long))
    assert out.count("\n") == 10 and all(len(line) <= WIDTH for line in out.splitlines())


def test_comments_keep_their_order_and_text() -> None:
    text = "# 1\nepochs: 3 # 2\nblock b = dense 3 # 3\n# 4\nb # 5\n# 6\n-> dense 10 # 7\n# 8"
    out = netdsl.format(netdsl.parse(text))
    assert [line.strip().split("#", 1)[1] for line in out.splitlines() if "#" in line] == [
        " 1",
        " 2",
        " 3",
        " 4",
        " 5",
        " 6",
        " 7",
        " 8",
    ]


def test_hash_inside_a_string_is_not_a_comment() -> None:
    out = netdsl.format(netdsl.parse('f "#1" # real\n'))
    assert out == 'f "#1"  # real\n'


def test_example_file_is_canonical() -> None:
    text = (EXAMPLES / "mnist.net").read_text("utf-8")
    assert netdsl.format(netdsl.parse(text)) == text


# --- netdsl fmt -------------------------------------------------------------------------------------


def _run(*args: str, stdin: str | bytes | None = None) -> Any:
    return CliRunner().invoke(cli.main, ["--no-plugins", "fmt", *args], input=stdin)


def test_fmt_prints_canonical_text(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text("dense 64  relu l2->dense 10 softmax")
    r = _run(str(f))
    assert r.exit_code == 0 and r.stdout == SEED
    assert f.read_text() == "dense 64  relu l2->dense 10 softmax"  # untouched


def test_fmt_stdin() -> None:
    r = _run("-", stdin="dense 3->dense 4")
    assert r.exit_code == 0 and r.stdout == "dense 3 -> dense 4\n"


def test_fmt_check_exit_codes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.net", tmp_path / "bad.net"
    good.write_text(SEED)
    bad.write_text("dense 64 relu l2->dense 10 softmax\n")
    r = _run("--check", str(good))
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    r = _run("--check", str(good), str(bad))
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == f"would reformat {bad}\n"
    assert bad.read_text() == "dense 64 relu l2->dense 10 softmax\n"  # --check never writes


def test_fmt_check_on_stdin() -> None:
    assert _run("--check", "-", stdin=SEED).exit_code == 0
    assert _run("--check", "-", stdin="dense 3->dense 4").exit_code == 1


def test_fmt_write_rewrites(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text("# seed\ndense 64 relu l2->dense 10 softmax # out\n")
    r = _run("--write", str(f))
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == f"formatted {f}\n"
    assert f.read_text() == "# seed\ndense 64 relu l2 -> dense 10 softmax  # out\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.net"]  # no temporary file left
    assert _run("--check", str(f)).exit_code == 0


def test_fmt_write_keeps_crlf(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_bytes(b"epochs: 3\r\ndense 64 relu l2\r\n-> dense 10 softmax # c\r\n")
    assert _run("--write", str(f)).exit_code == 0
    assert f.read_bytes() == b"epochs: 3\r\n\r\ndense 64 relu l2 -> dense 10 softmax  # c\r\n"
    assert _run("--check", str(f)).exit_code == 0  # a canonical CRLF file is canonical
    r = _run(str(f))
    assert r.stdout_bytes == f.read_bytes()


def test_fmt_write_leaves_a_canonical_file_alone(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text(SEED)
    os.utime(f, (1_000_000, 1_000_000))
    before = f.stat()
    r = _run("--write", str(f))
    assert (r.exit_code, r.stderr) == (0, "")
    after = f.stat()
    assert (after.st_ino, after.st_mtime) == (before.st_ino, before.st_mtime)


def test_fmt_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new text goes to a temporary file renamed over the old one: a failure leaves the
    old file whole, no temporary file behind, and a clean error."""
    f = tmp_path / "m.net"
    f.write_text("dense 3->dense 4\n")
    os.chmod(f, 0o640)
    inode = f.stat().st_ino
    assert _run("--write", str(f)).exit_code == 0
    assert f.stat().st_ino != inode, "replaced by rename, not rewritten in place"
    assert stat.S_IMODE(f.stat().st_mode) == 0o640, "permissions are kept"

    f.write_text("dense 3->dense 4\n")

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    r = _run("--write", str(f))
    assert r.exit_code == 1
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "cannot write" in r.stderr and "No space left on device" in r.stderr
    assert "Traceback" not in r.output
    assert f.read_text() == "dense 3->dense 4\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.net"]


def test_fmt_write_several_files_and_an_error(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.net", tmp_path / "b.net", tmp_path / "c.net"
    a.write_text("dense 3->dense 4")
    b.write_text("dense 64 relu -> -> dense 10\n")
    c.write_text(SEED)
    r = _run("--write", str(a), str(b), str(c))
    assert r.exit_code == 1
    assert a.read_text() == "dense 3 -> dense 4\n"
    assert b.read_text() == "dense 64 relu -> -> dense 10\n"  # a bad file is never touched
    assert "b.net:1:18: error[NDL001]: expected a layer, found `->`" in r.stderr


def test_fmt_refuses_bad_flag_combinations(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text(SEED)
    r = _run("--check", "--write", str(f))
    assert r.exit_code == 2 and "--check and --write" in r.stderr
    r = _run("--write", "-", stdin=SEED)
    assert r.exit_code == 2 and "standard input" in r.stderr


def test_fmt_syntax_error_exit_1(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_bytes(b"dense 64 \xff\n")
    r = _run(str(f))
    assert r.exit_code == 1 and r.stdout == ""
    assert "error[NDL009]" in r.stderr and "Traceback" not in r.output
