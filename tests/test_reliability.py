"""Hostile and huge input (issues 9, 15, 16): literals, escapes, size limits, linear error
output, terminal safety, the `parse` command, and the hints the binder uses."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner
from conftest import builtin_registry
from lark import Lark

import netdsl
from netdsl.errors import NetdslError, NetdslErrors, NetdslLimitError, Note, Span
from netdsl.lang import hints, ir
from netdsl.lang.diagnostics import MAX_RENDERED, render
from netdsl.lang.parser import MAX_INPUT_BYTES, MAX_STEPS
from netdsl.tools import cli

SEED = "dense 64 relu l2 -> dense 10 softmax\n"


def _syntax(text: str) -> NetdslError:
    """The one error parsing ``text`` raises (huge literals are argument errors, NDL005)."""
    with pytest.raises(NetdslError) as info:
        netdsl.parse(text, "t.net")
    return info.value


# --- C: literals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, at",
    [
        ("dense 1" + "9" * 5000, 7),  # Python's own limit is 4,300 digits
        ("dense 1234567890123456789", 7),  # 19 digits: over the 18 allowed
        ("dense -1234567890123456789", 7),
        ("(dense 3) * 99999999999999999999", 13),
        ("input: 28x1234567890123456789", 11),
    ],
)
def test_huge_integer_literals_are_errors_at_their_span(text: str, at: int) -> None:
    err = _syntax(text)
    assert "too large" in err.message and "digits, at most 18" in err.message
    assert err.span.column == at and err.code == "NDL005"
    assert len(render(err)) < 1000  # the number is shortened, never printed whole


def test_float_overflowing_to_infinity_is_an_error() -> None:
    err = _syntax("dropout 1e999")
    assert err.message == "the number `1e999` is too large: it overflows to infinity"
    assert (err.span.column, err.span.end_column) == (9, 14)


def test_supported_escapes_and_an_unknown_one() -> None:
    (arg,) = netdsl.parse(r'f "a\"b\\c"').network.steps[0].args
    assert arg.value.value == 'a"b\\c'
    err = _syntax('dense 64 kernel_initializer="ab\\nc"')
    assert err.message == "unknown escape `\\n` in a string"
    assert (err.span.start, err.span.end, err.span.column) == (31, 33, 32)


# --- C: size limits ------------------------------------------------------------------------------


def test_input_over_the_limit_is_refused_by_parse() -> None:
    for big in (b"#" * (MAX_INPUT_BYTES + 1), "#" * (MAX_INPUT_BYTES + 1)):
        with pytest.raises(NetdslLimitError, match="too large") as info:
            netdsl.parse(big, "big.net")
        assert info.value.code == "NDL012"
    assert netdsl.parse("#" * 1000 + "\n" + SEED).network is not None


def test_cli_reads_at_most_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.net"
    big.write_bytes(b"#" * (MAX_INPUT_BYTES + 10))
    result = CliRunner().invoke(cli.main, ["check", str(big)])
    assert result.exit_code == 1 and "error[NDL012]: the input is too large" in result.stderr
    if Path("/dev/zero").exists():  # an endless input: refused, not read until memory runs out
        result = CliRunner().invoke(cli.main, ["check", "/dev/zero"])
        assert result.exit_code == 1 and "NDL012" in result.stderr


#: id -> (a program writing steps past MAX_STEPS, or not: its separators hidden in comments and
#: strings, or under the limit; the offset of the separator the error points at, or None)
_STEP = "dense 64 relu -> "
STEP_LIMIT_CASES = {
    "arrows past the limit": (_STEP * MAX_STEPS + "dense 1", len(_STEP) * (MAX_STEPS - 1) + 14),
    "branches past the limit": (
        "[" + "dense 1 | " * MAX_STEPS + "dense 1]",
        1 + 10 * (MAX_STEPS - 1) + 8,
    ),
    "one chain per line": ("dense 1\n-> " * MAX_STEPS + "dense 1", 11 * (MAX_STEPS - 1) + 8),
    "arrows in a comment": ("dense 1  # " + "->|" * MAX_STEPS + "\n", None),
    "arrows in a string": ('dense 1 name="' + "->" * MAX_STEPS + '"\n', None),
    "at the limit (counted only)": ("# " + "->" * (MAX_STEPS - 1) + "\ndense 1", None),
}


@pytest.mark.parametrize("case", list(STEP_LIMIT_CASES))
def test_a_program_past_the_step_limit_is_refused_before_parsing(case: str) -> None:
    """Issue 27: 5 MB of `dense 64 relu ->` took 46 s and 1.1 GB to be refused; the step count
    is a scan of the text, so the refusal comes in milliseconds, at the first step past it."""
    text, at = STEP_LIMIT_CASES[case]
    start = time.perf_counter()
    if at is None:
        assert netdsl.parse(text, "ok.net").network is not None
        return
    with pytest.raises(NetdslLimitError) as info:
        netdsl.parse(text, "long.net")
    seconds = time.perf_counter() - start
    err = info.value
    assert (err.code, err.message) == (
        "NDL012",
        f"the program is too long: more than {MAX_STEPS:,} steps",
    )
    assert err.span is not None and err.span.start == at, (err.span, at)
    assert seconds < 2.0, seconds  # ~0.05 s; parsing it would take minutes


@pytest.mark.parametrize("blank", ["\n", "\r\n", "  # a comment\n"], ids=["LF", "CRLF", "comments"])
def test_a_run_of_blank_lines_costs_what_it_holds(blank: str) -> None:
    """9 million blank lines took 60 s and 5 GB (the lexer's regex kept ~300 bytes of
    backtracking state per line); a blank line is now a character class away."""
    import tracemalloc

    lines = 1_000_000 if blank.strip() == "" else 100_000
    text = blank * lines + "dense 10 softmax\n"
    tracemalloc.start()
    try:
        program = netdsl.parse(text, "blank.net")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert program.network is not None and program.network.span.line == lines + 1
    assert peak < 8 * len(text) + 32_000_000, f"{peak / 1e6:.0f} MB for {len(text) / 1e6:.1f} MB"


def test_the_step_limit_is_the_layer_limit() -> None:
    """Every written step is at least one layer: the parser refuses nothing the checker's own
    limit would let through."""
    from netdsl.checking.context import MAX_LAYERS

    assert MAX_STEPS == MAX_LAYERS


def test_reparse_counts_the_steps_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit inside one step that adds steps is re-parsed alone by the language server:
    the limit still counts the whole text (here with the limit made small)."""
    from netdsl.lang import parser
    from netdsl.lang.reparse import reparse

    monkeypatch.setattr(parser, "MAX_STEPS", 10)
    before = "dense 4 -> " * 8 + "dense 1\n"
    previous = netdsl.parse(before, "r.net")
    after = before.replace("dense 1\n", "dense 1 -> dense 2 -> dense 3\n")
    with pytest.raises(NetdslLimitError, match="more than 10 steps"):
        reparse(previous, after, "r.net")


# --- C: linear, capped error output --------------------------------------------------------------


def test_thousands_of_errors_render_fast_and_capped() -> None:
    text = "dense 10 softmax" + " use_bias=true" * 2000 + "\n"
    with pytest.raises(NetdslError) as info:
        netdsl.check(netdsl.parse(text, "b.net"), builtin_registry())
    out = render(info.value)
    assert len(info.value.errors) == 1999
    assert out.count("error[NDL006]") == MAX_RENDERED
    assert out.endswith(f"… and {1999 - MAX_RENDERED:,} more errors not shown\n\n1999 errors")
    assert len(out) < 100_000, len(out)  # 84 MB before: the whole 28 KB line per error
    # (its time, 14 s before, is measured in bench/check_cost.py, not asserted here)


def test_a_long_line_is_cut_around_the_mark_with_the_caret_under_it() -> None:
    text = "dense 10 softmax" + " use_bias=true" * 100 + " relu6x\n"
    with pytest.raises(NetdslError) as info:
        netdsl.check(netdsl.parse(text, "b.net"), builtin_registry())
    unknown = next(e for e in info.value.errors if e.code == "NDL003")
    lines = render(unknown).splitlines()
    shown, carets = lines[2], lines[3]
    assert shown.startswith("1 | …") and len(shown) < 200
    at = carets.index("^")
    assert shown[at : at + 6] == "relu6x" and carets[at:].startswith("^^^^^^ ")


def test_many_syntax_errors_after_a_long_good_prefix_are_linear() -> None:
    good = "epochs: 1\n" * 10_000  # 100 KB of valid settings, then 25 bad lines
    text = good + "epochs: 1 2\n" * 25
    parsed: list[int] = []
    real = Lark.parse

    def counting(self: Lark, text: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(text) - len(text.lstrip()))  # the blank prefix each retry skips over
        return real(self, text, *args, **kwargs)

    with mock.patch.object(Lark, "parse", counting), pytest.raises(NetdslErrors) as info:
        netdsl.parse(text, "e.net")
    assert len(info.value.errors) == 20  # MAX_SYNTAX_ERRORS
    # each retry starts after the statements already looked at (they are blanked), instead of
    # re-parsing the 100 KB prefix: the blank part grows with every retry
    assert len(parsed) == 20 and parsed == sorted(parsed) and parsed[-1] > len(good)


def test_second_network_is_still_found_after_an_earlier_error() -> None:
    with pytest.raises(NetdslErrors) as info:
        netdsl.parse("dense 64\nepochs: 1 2\ndense 10\n", "t.net")
    codes = [(e.code, e.span.line) for e in info.value.errors]
    assert codes == [("NDL001", 2), ("NDL002", 3)]
    second = info.value.errors[1]
    assert second.message.startswith("a program has one network") and second.notes[0].span.line == 1


# --- D: terminal safety --------------------------------------------------------------------------


def test_control_characters_are_shown_visibly_everywhere() -> None:
    src = 'dense 64 kernel_initializer="\x1b[2J\u202e"\n'
    span = Span.point(src, 9, "ev\x1bil.net", width=5)
    err = NetdslError(
        "bad `\x1b[31m` \u202e and \x07",
        span,
        label="lab\x1bel",
        help="h\x1b[0m",
        expected="e\x9b",
        notes=[Note(Span.point(src, 0, "other\x1b.net"), "n\x1b")],
        code="NDL005",
    )
    out = render(err, src) + render(err, src, color=True)
    for bad in ("\x1b[2J", "\x1b[31m", "\u202e", "\x07", "\x9b", "\x1bil", "\x1bel", "\x1b.net"):
        assert bad not in out
    plain = render(err, src)
    assert "\\x1b[31m" in plain and "\\u202e" in plain and "\\x07" in plain
    assert "␛[2J" in plain.splitlines()[2]  # the source line draws ESC as a control picture
    assert "ev\\x1bil.net:1:10" in plain and "lab\\x1bel" in plain


def test_control_picture_keeps_the_caret_aligned() -> None:
    src = "\x1b\x1b relu6x\n"
    err = NetdslError("m", Span.point(src, 3, width=6), label="here", code="NDL003")
    shown, carets = render(err, src).splitlines()[2:4]
    assert shown == "1 | ␛␛ relu6x" and carets.index("^") == shown.index("r")


# --- B: hints ------------------------------------------------------------------------------------


def test_unicode_and_other_arrows_say_write_arrow() -> None:
    for arrow, col in (("→", 15), ("⟶", 15), ("=>", 15), ("—>", 15)):
        err = _syntax(f"dense 64 relu {arrow} dense 10 softmax")
        assert err.message == f"`{arrow}` is not an arrow in netdsl: write `->`"
        assert (err.span.column, err.span.end_column) == (col, col + len(arrow))
        assert "write `->` here" in render(err)


def test_missing_arrow_finds_the_layer_name_among_the_arguments() -> None:
    program = netdsl.parse("dense 64 relu -> dropout 0.2 dense 10 softmax")
    dropout = program.network.steps[1]
    layers = {"dense", "dropout", "conv2d"}
    arg = hints.missing_arrow(dropout, layers.__contains__)
    assert arg is not None and arg.value == ir.Name("dense")
    assert (arg.span.column, arg.span.end_column) == (30, 35)
    # keyword values, names in calls and non-layer names do not count
    assert (
        hints.missing_arrow(
            netdsl.parse("dense 64 relu l2(0.1) name=dense").network.steps[0], layers.__contains__
        )
        is None
    )


def test_quoted_name_help() -> None:
    (_, arg) = netdsl.parse('dense 64 "relu"').network.steps[0].args
    assert hints.quoted_name_help(arg.value) == "drop the quotes: `relu`"


# --- E: netdsl parse -----------------------------------------------------------------------------


def test_parse_command_prints_the_ir_as_json(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text("epochs: 2\n" + SEED)
    result = CliRunner().invoke(cli.main, ["parse", str(f), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["type"] == "program" and data["settings"][0]["key"] == "epochs"
    assert ir.Program.from_dict(data) == netdsl.parse("epochs: 2\n" + SEED)
    plain = CliRunner().invoke(cli.main, ["parse", str(f)])
    assert plain.exit_code == 0
    assert (
        plain.stdout.splitlines()[0] == f"{f}: parsed (1 setting, 0 blocks, a network of 2 steps)"
    )


def test_parse_command_renders_errors_like_check() -> None:
    runner = CliRunner()
    parsed = runner.invoke(cli.main, ["parse", "-"], input="dense 64 relu → dense 10\n")
    checked = runner.invoke(cli.main, ["check", "-"], input="dense 64 relu → dense 10\n")
    assert parsed.exit_code == 1 and parsed.stdout == ""
    assert parsed.stderr == checked.stderr and "write `->`" in parsed.stderr
