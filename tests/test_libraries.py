"""Block libraries: ``use "file.net"`` (parsed, formatted, resolved by the checker) and blocks
shipped by plugins (the ``register_blocks`` hook)."""

from __future__ import annotations

import pytest

import netdsl
from netdsl.errors import NetdslError
from netdsl.lang import ir
from netdsl.lang.formatter import format as format_program
from netdsl.lang.parser import parse

# --- the `use` line -------------------------------------------------------------------------------


def test_use_parses_with_its_spans() -> None:
    program = parse('use "lib/a.net"\nuse "b.net"\ndense 2\n', "m.net")
    assert [u.path for u in program.uses] == ["lib/a.net", "b.net"]
    first = program.uses[0]
    assert first.span is not None and first.path_span is not None
    assert (first.span.line, first.span.column, first.path_span.column) == (1, 1, 5)
    assert first.span.file == "m.net"


def test_use_round_trips_through_json() -> None:
    program = parse('use "x.net"\nblock b = dense 2\nb\n', "m.net")
    assert ir.Program.from_dict(program.to_dict()) == program
    assert program.to_dict()["uses"][0]["path"] == "x.net"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ('use   "a.net"\ndense 2', 'use "a.net"\n\ndense 2\n'),
        ('epochs: 2\nuse "a.net"\ndense 2', 'use "a.net"\n\nepochs: 2\n\ndense 2\n'),
        ('use "a.net"  # mine\nuse "b.net"\ndense 2', 'use "a.net"  # mine\nuse "b.net"\n\ndense 2\n'),
        ('use "a \\"q\\".net"\ndense 2', 'use "a \\"q\\".net"\n\ndense 2\n'),
    ],
    ids=["spaces", "moved-to-top", "comment-kept", "escaped-quote"],
)
def test_fmt_writes_use_lines_first_and_canonically(text: str, canonical: str) -> None:
    out = format_program(parse(text))
    assert out == canonical
    assert format_program(parse(out)) == out


@pytest.mark.parametrize(
    "text",
    ["use 3\ndense 2", "use lib.net\ndense 2", "use\ndense 2"],
    ids=["number", "unquoted", "nothing"],
)
def test_use_without_a_quoted_path_is_a_syntax_error(text: str) -> None:
    with pytest.raises(NetdslError) as info:
        parse(text, "m.net")
    assert info.value.code == "NDL001"
    assert 'use "lib/blocks.net"' in str(info.value)


def test_use_bias_is_still_a_parameter_name() -> None:
    program = parse("dense 3 use_bias=false -> dense 2")
    assert program.network is not None and len(program.network.steps) == 2
