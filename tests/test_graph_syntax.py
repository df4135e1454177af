"""Graphs in the language: bindings (`NAME = chain`, `output NAME = chain`, `shared NAME = chain`)
and mapping values, through parse, format and the JSON form."""

from __future__ import annotations

import json

import pytest

from netdsl.errors import NetdslError
from netdsl.lang import ir
from netdsl.lang.formatter import format as fmt
from netdsl.lang.parser import parse

GRAPH = """\
loss: {digit: categorical_crossentropy, odd: binary_crossentropy}
loss_weights: {digit: 1.0, odd: 0.5}

shared tower = flatten -> dense 128 relu -> dense 64 relu
e1 = conv2d 16 3 relu same -> conv2d 16 3 relu same  # the first stage
e2 = e1 -> maxpool 2 -> conv2d 32 3 relu same
d1 = [e2 -> upsample2d 2 | e1] concat -> conv2d 16 3 relu same
output digit = d1 -> dense 10 softmax
output odd = d1 -> dense 1 sigmoid
"""


def test_bindings_parse_in_order_with_kinds() -> None:
    p = parse(GRAPH)
    assert [(b.kind, b.name) for b in p.bindings] == [
        ("shared", "tower"),
        ("tensor", "e1"),
        ("tensor", "e2"),
        ("tensor", "d1"),
        ("output", "digit"),
        ("output", "odd"),
    ]
    assert p.network is None and p.is_graph
    e2 = p.bindings[2]
    assert isinstance(e2.chain.steps[0], ir.Layer) and e2.chain.steps[0].name == "e1"
    assert e2.name_span is not None and (e2.name_span.line, e2.name_span.column) == (6, 1)


def test_mapping_value_keeps_keys_and_spans() -> None:
    loss = parse(GRAPH).setting("loss")
    assert loss is not None and isinstance(loss.value, ir.Map)
    assert [a.key for a in loss.value.items] == ["digit", "odd"]
    assert loss.value.get("odd") == ir.Name("binary_crossentropy")
    key = loss.value.items[1].key_span
    assert key is not None and (key.line, key.column) == (1, 41)


@pytest.mark.parametrize(
    "src",
    [
        pytest.param(GRAPH, id="graph"),
        pytest.param("a = dense 3\ndense 2 -> dense 1\n", id="binding-then-network"),
        pytest.param("output y = dense 1 sigmoid\n", id="output-only"),
        pytest.param("loss_weights: {}\ndense 1\n", id="empty-map"),
        pytest.param(
            "x1 = " + " -> ".join(["dense 64 relu"] * 12) + "\ndense 1\n", id="long-binding"
        ),
    ],
)
def test_format_round_trip(src: str) -> None:
    p = parse(src)
    text = fmt(p)
    assert parse(text) == p
    assert fmt(parse(text)) == text
    assert ir.Program.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_long_binding_breaks_with_its_name_on_the_first_line() -> None:
    text = fmt(parse("x1 = " + " -> ".join(["dense 64 relu"] * 12)))
    lines = text.splitlines()
    assert lines[0] == "x1 = dense 64 relu" and lines[1] == "  -> dense 64 relu"


def test_chain_programs_keep_their_ir_and_json() -> None:
    p = parse("dense 64 relu -> dense 10 softmax")
    assert p.bindings == () and "bindings" not in p.to_dict()


@pytest.mark.parametrize(
    ("src", "where", "words"),
    [
        pytest.param("dense 10\nx = dense 3\n", (2, 1), "must come last", id="binding-after"),
        pytest.param("block = dense 1\n", (1, 7), "expected a name", id="keyword-block"),
        pytest.param("loss: {a 1}\ndense 1\n", (1, 10), "", id="map-without-colon"),
    ],
)
def test_syntax_errors(src: str, where: tuple[int, int], words: str) -> None:
    with pytest.raises(NetdslError) as e:
        parse(src)
    err = e.value.errors[0]
    assert err.span is not None and (err.span.line, err.span.column) == where
    assert words in err.message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        pytest.param(
            {"type": "binding", "name": "output", "chain": {"type": "chain", "steps": []}},
            "keyword",
            id="keyword-name",
        ),
        pytest.param(
            {
                "type": "binding",
                "name": "a",
                "kind": "input",
                "chain": {"type": "chain", "steps": [{"type": "layer", "name": "dense"}]},
            },
            "expected one of",
            id="bad-kind",
        ),
    ],
)
def test_json_refuses_bad_bindings(data: dict[str, object], words: str) -> None:
    with pytest.raises(ir.NetdslIRError, match=words):
        ir.Program.from_dict({"type": "program", "bindings": [data]})


def test_json_refuses_map_item_without_key() -> None:
    data = {
        "type": "program",
        "settings": [
            {
                "type": "setting",
                "key": "loss_weights",
                "value": {
                    "type": "map",
                    "items": [{"type": "arg", "value": {"type": "int", "value": 1}}],
                },
            }
        ],
    }
    with pytest.raises(ir.NetdslIRError, match="key"):
        ir.Program.from_dict(data)
