"""Diagnostics: golden renderings of bad programs, and the renderer's rules on their own.

Every ``tests/golden/NAME.net`` is a bad program; ``NAME.err`` holds exactly what
``netdsl check`` prints for it (colour off). Regenerate after a deliberate change with::

    NETDSL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_diagnostics.py

and read every changed ``.err`` before committing it: a message must stand alone, the caret
must sit under the exact token, "expected" must be in words, and "did you mean" must only
appear for a close name.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import GOLDEN, builtin_registry, has_layers

import netdsl
from netdsl.errors import NetdslError, NetdslErrors, NetdslSyntaxError, Note, Span
from netdsl.lang.diagnostics import render, render_all, to_json

UPDATE = os.environ.get("NETDSL_UPDATE_GOLDEN", "") not in ("", "0")
CASES = sorted(GOLDEN.glob("*.net"))
#: golden programs that need layers other engineers are still adding to the registry
REQUIRES = {
    "dense_on_sequence": ("lstm",),
    "unknown_merge": ("concat",),
    "unknown_option": ("conv2d",),
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def diagnose(path: Path, *, color: bool = False) -> tuple[NetdslError, str]:
    """What ``netdsl check`` prints for a file: parse its bytes, check, render the error."""
    try:
        program = netdsl.parse(path.read_bytes(), path.name)
        netdsl.check(program, builtin_registry())
    except NetdslError as e:
        return e, render(e, color=color) + "\n"
    pytest.fail(f"{path.name} is a golden *bad* program, but it checks without an error")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path) -> None:
    needed = REQUIRES.get(path.stem, ())
    if not has_layers(*needed):
        pytest.skip(f"needs {', '.join(needed)} in the registry")
    _, text = diagnose(path)
    expected_path = path.with_suffix(".err")
    if UPDATE:
        expected_path.write_text(text, encoding="utf-8", newline="")
    assert expected_path.exists(), (
        f"{expected_path.name} is missing (run with NETDSL_UPDATE_GOLDEN=1)"
    )
    assert text == expected_path.read_text(encoding="utf-8")


def test_every_golden_program_has_its_rendering() -> None:
    errs = {p.stem for p in GOLDEN.glob("*.err")}
    nets = {p.stem for p in CASES}
    assert errs == nets, f"without .err: {nets - errs}; without .net: {errs - nets}"
    assert len(nets) >= 24


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_shape(path: Path) -> None:
    """Every golden diagnostic follows the format: header, gutter, snippet, carets, words."""
    if not has_layers(*REQUIRES.get(path.stem, ())):
        pytest.skip("registry lacks a layer this program needs")
    err, text = diagnose(path)
    header = re.compile(rf"^{re.escape(path.name)}:\d+:\d+: error\[NDL\d{{3}}\]: \S")
    for e in err.errors:
        assert e.span is not None, "every diagnostic points somewhere"
        assert (e.message and e.message[0].islower()) or e.message[0] in "`(", e.message
        assert not e.message.endswith("."), "messages are phrases, not sentences"
        assert "object at 0x" not in e.message
    blocks = [b for b in text.rstrip("\n").split("\n\n") if not re.fullmatch(r"\d+ errors", b)]
    assert len(blocks) == len(err.errors)
    for block in blocks:
        lines = block.split("\n")
        assert header.match(lines[0]), lines[0]
        assert re.fullmatch(r" +\|", lines[1]), "a gutter line follows the header"
        assert any(re.fullmatch(r" *\d+ \|( .*)?", ln) for ln in lines), "the source line is shown"
        assert any("^" in ln for ln in lines[2:]), "a caret marks the primary span"
        for ln in lines:
            if ln.lstrip().startswith("= help: did you mean"):
                assert re.search(r"did you mean `[^`]+`\?$", ln), ln
    assert not ANSI.search(text), "no colour unless asked"


def test_golden_caret_sits_under_the_span() -> None:
    """The carets cover the exact characters of the primary span (on the first golden cases)."""
    for name, token in [
        ("unknown_activation", "relu6x"),
        ("dropout_out_of_range", "1.5"),
        ("unknown_setting", "epochz"),
        ("unknown_layer", "dens"),
        ("unknown_kwarg", "unitz"),
        ("tabs", "relu6x"),
        ("stray_character", "$"),
    ]:
        path = GOLDEN / f"{name}.net"
        _err, text = diagnose(path)
        lines = text.split("\n")
        src_i = next(i for i, ln in enumerate(lines) if re.match(r" *\d+ \| ", ln))
        shown, carets = lines[src_i], lines[src_i + 1]
        col = carets.index("^")
        assert shown[col : col + len(token)] == token, (name, shown, carets)
        assert carets[col:].split(" ")[0] == "^" * len(token), (name, carets)


# --- the spec's examples, read as a user would ------------------------------------------------


def _one(name: str) -> NetdslError:
    err, _ = diagnose(GOLDEN / f"{name}.net")
    assert len(err.errors) == 1, [e.message for e in err.errors]
    return err.errors[0]


def test_relu6x_suggests_relu6() -> None:
    e = _one("unknown_activation")
    assert e.code == "NDL003" and "`relu6x`" in e.message and e.help == "did you mean `relu6`?"
    assert (e.span.line, e.span.column, e.span.end_column) == (1, 10, 16)


def test_missing_units_points_at_the_layer() -> None:
    e = _one("missing_units")
    assert e.code == "NDL007" and "`units`" in e.message
    assert (e.span.column, e.span.end_column) == (1, 6)


def test_activation_twice_has_a_note_at_the_first() -> None:
    e = _one("activation_twice")
    assert e.code == "NDL006" and (e.span.column, e.span.end_column) == (15, 19)
    assert [(n.span.column, n.label) for n in e.notes] == [(10, "first given here")]


def test_out_of_range_says_the_range_in_words() -> None:
    e = _one("dropout_out_of_range")
    assert e.code == "NDL005" and ">= 0 and < 1" in e.message and e.help is None


def test_unknown_setting_suggests() -> None:
    e = _one("unknown_setting")
    assert e.code == "NDL004" and e.help == "did you mean `epochs`?"
    assert "`validation_split`" in (e.expected or "")


def test_unclosed_paren_notes_where_it_opened() -> None:
    e = _one("unclosed_paren")
    assert e.message.startswith("unclosed `(`")
    assert [(n.span.line, n.span.column, n.label) for n in e.notes] == [(1, 1, "`(` opened here")]


def test_empty_and_comment_only_files() -> None:
    for name in ("empty", "only_comments"):
        e = _one(name)
        assert e.code == "NDL010" and "no network" in e.message


def test_crlf_reports_every_error_with_clean_lines() -> None:
    err, text = diagnose(GOLDEN / "crlf.net")
    assert [e.span.line for e in err.errors] == [2, 4]
    assert "\r" not in text
    assert "did you mean `softmax`?" in text


def test_non_utf8_names_the_byte() -> None:
    e = _one("not_utf8")
    assert e.code == "NDL009" and "0xe9" in e.message
    assert (e.span.line, e.span.column) == (1, 40)


def test_far_names_get_no_suggestion() -> None:
    err = _expect_error("dense 64 qqqqqq -> dense 10 softmax\n")
    assert err.help is None or "did you mean" not in err.help
    err = _expect_error("zzzzzz: 3\ndense 10 softmax\n")
    assert err.help is None


def test_block_error_points_at_definition_and_every_use() -> None:
    e = _one("block_error_two_uses")
    assert e.span.line == 2  # the definition
    uses = [(n.span.line, n.span.column) for n in e.notes if "use of" in n.label]
    assert uses == [(4, 1), (4, 16)]


@pytest.mark.skipif(not has_layers("lstm"), reason="needs lstm")
def test_dense_on_sequence_says_how_to_end_it() -> None:
    e = _one("dense_on_sequence")
    assert e.code == "NDL008" and "return_sequences=false" in (e.help or "")


# --- the renderer ------------------------------------------------------------------------------


def _expect_error(text: str | bytes, filename: str | None = "t.net") -> NetdslError:
    try:
        netdsl.check(netdsl.parse(text, filename), builtin_registry())
    except NetdslError as e:
        return e
    pytest.fail(f"{text!r} checked without an error")


def test_colour_only_when_asked() -> None:
    err = _expect_error("dense 64 relu6x -> dense 10 softmax\n")
    plain, coloured = render(err), render(err, color=True)
    assert not ANSI.search(plain)
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured) == plain


def test_render_without_a_file_name_says_input() -> None:
    err = _expect_error("dense 10 relu6x\n", filename=None)
    assert render(err).startswith("<input>:1:10: error[NDL003]: ")


def test_render_with_explicit_source_and_without_any() -> None:
    span = Span(6, 8, 1, 7, 1, 9, "x.net")
    err = NetdslError("something is off", span, label="here", code="NDL001")
    assert render(err) == "x.net:1:7: error[NDL001]: something is off"
    assert render(err, "dense 64\n") == (
        "x.net:1:7: error[NDL001]: something is off\n  |\n1 | dense 64\n  |       ^^ here"
    )


def test_render_error_without_span() -> None:
    assert render(NetdslError("no place", code="NDL004")) == "error[NDL004]: no place"


def test_expected_and_help_lines() -> None:
    err = NetdslError(
        "bad thing",
        Span(0, 1, 1, 1, 1, 2),
        label="this",
        expected="a layer",
        help="try `dense`",
        code="NDL001",
    )
    assert render(err, "x\n").splitlines()[-2:] == [
        "  = expected: a layer",
        "  = help: try `dense`",
    ]
    # an "expected" already said by the label is not repeated
    err.label = "expected a layer"
    assert "= expected" not in render(err, "x\n")


def test_notes_on_other_lines_with_a_gap() -> None:
    src = "a\nb\nc\nd\n"
    err = NetdslError(
        "m",
        Span(6, 7, 4, 1, 4, 2),
        label="primary",
        code="NDL001",
        notes=[Note(Span(0, 1, 1, 1, 1, 2), "secondary")],
    )
    assert render(err, src).splitlines() == [
        "<input>:4:1: error[NDL001]: m",
        "  |",
        "1 | a",
        "  | - secondary",
        "...",
        "4 | d",
        "  | ^ primary",
    ]


def test_wide_gutter_for_two_digit_lines() -> None:
    src = "\n" * 11 + "dense 64 relu6x\n"
    err = _expect_error(src)
    lines = render(err).splitlines()
    assert lines[1] == "   |" and lines[2] == "12 | dense 64 relu6x"


def test_tabs_expand_and_carets_follow() -> None:
    err = _expect_error("dense\t64\trelu6x -> dense 10 softmax\n")
    lines = render(err).splitlines()
    assert lines[2] == "1 | dense   64  relu6x -> dense 10 softmax"
    assert lines[3] == "  |             ^^^^^^ not an activation or a regularizer"


def test_wide_characters_shift_the_caret_by_their_width() -> None:
    src = '"漢字" x\n'
    err = NetdslError("m", Span.point(src, 5), label="here", code="NDL001")
    shown, carets = render(err, src).splitlines()[2:4]
    # "漢字" takes four columns on a terminal: the caret sits 2 further right than len() says
    assert carets.index("^") == shown.index("x") + 2
    # and a span over wide characters gets one caret per column
    err = _expect_error('dense 10 kernel_initializer="漢字"\n')
    carets = render(err).splitlines()[3]
    assert carets.split()[1] == "^" * 6


def test_control_characters_never_reach_the_terminal() -> None:
    err = _expect_error("dense 64 \x1b[31m\n")
    text = render(err)
    assert "\x1b" not in text and "\\x1b" in text.splitlines()[0]


def test_span_at_end_of_file_is_drawn() -> None:
    err = _expect_error("dense 64 relu ->")
    lines = render(err).splitlines()
    assert lines[0] == "t.net:1:17: error[NDL001]: expected a layer, found the end of the file"
    assert lines[3] == "  |                 ^ expected a layer"


def test_group_renders_each_error_and_a_count() -> None:
    err = _expect_error("epochz: 1\ndense 64 relu6x -> dropout 1.5 -> dense 10 softmax\n")
    assert isinstance(err, NetdslErrors) and len(err.errors) == 3
    text = render(err)
    assert text.count("error[NDL") == 3 and text.endswith("\n\n3 errors")
    assert render_all(err.errors) == text
    assert str(err).startswith("t.net:1:1: 3 errors; first: unknown setting `epochz`")


def test_json_has_the_same_fields() -> None:
    err = _expect_error("dense 64 relu relu -> dense 10 softmax\n")
    data = json.loads(to_json([err]))
    (item,) = data["errors"]
    assert item == {
        "code": "NDL006",
        "severity": "error",
        "message": err.message,
        "file": "t.net",
        "span": {"start": 14, "end": 18, "line": 1, "column": 15, "end_line": 1, "end_column": 19},
        "label": "second `activation`",
        "expected": None,
        "help": "give `activation` once",
        "notes": [
            {
                "file": "t.net",
                "label": "first given here",
                "span": {
                    "start": 9,
                    "end": 13,
                    "line": 1,
                    "column": 10,
                    "end_line": 1,
                    "end_column": 14,
                },
            }
        ],
    }


def test_syntax_errors_are_netdsl_errors_with_source() -> None:
    with pytest.raises(NetdslSyntaxError) as info:
        netdsl.parse("dense 64 relu -> -> dense 10", "a.net")
    assert info.value.source == "dense 64 relu -> -> dense 10"
    assert info.value.span.file == "a.net"
