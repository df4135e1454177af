"""The parser: good programs and the IR they give, spans, the JSON form, and syntax errors."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pytest
from conftest import strip_spans

import netdsl
from netdsl.errors import NetdslError, NetdslLimitError, NetdslSyntaxError, Span
from netdsl.lang import ir
from netdsl.lang.parser import MAX_DEPTH

# --- a small vocabulary for writing expected IR ---------------------------------------------------

I, F, B, S, N, Sh = ir.Int, ir.Float, ir.Bool, ir.Str, ir.Name, ir.Shape  # noqa: E741 - the IR's initials


def T(*items: ir.Value) -> ir.Tuple:
    return ir.Tuple(tuple(items))


def Ls(*items: ir.Value) -> ir.List:
    return ir.List(tuple(items))


def A(value: Any, key: str | None = None) -> ir.Arg:
    return ir.Arg(value, key)


def C(name: str, *args: Any, **kwargs: Any) -> ir.Call:
    return ir.Call(name, _args(args, kwargs))


def _args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[ir.Arg, ...]:
    return tuple(a if isinstance(a, ir.Arg) else A(a) for a in args) + tuple(
        A(v, k) for k, v in kwargs.items()
    )


def L(name: str, *args: Any, **kwargs: Any) -> ir.Layer:
    return ir.Layer(name, _args(args, kwargs))


def CL(name: str, *args: Any, body: tuple[ir.Chain, ...] = (), **kwargs: Any) -> ir.Layer:
    """A call-form layer: ``name(...)``."""
    return ir.Layer(name, _args(args, kwargs), body, True)


def ch(*steps: ir.Step) -> ir.Chain:
    return ir.Chain(tuple(steps))


def R(times: int, *steps: ir.Step) -> ir.Repeat:
    return ir.Repeat(ch(*steps), times)


def Br(merge: str | None, *chains: ir.Chain) -> ir.Branches:
    return ir.Branches(tuple(chains), merge)


def P(
    *steps: ir.Step,
    settings: dict[str, ir.Value] | None = None,
    blocks: tuple[ir.BlockDef, ...] = (),
) -> ir.Program:
    return ir.Program(
        tuple(ir.Setting(k, v) for k, v in (settings or {}).items()),
        blocks,
        ch(*steps) if steps else None,
    )


def Blk(name: str, params: tuple[str, ...], *steps: ir.Step) -> ir.BlockDef:
    return ir.BlockDef(name, params, ch(*steps))


def _deep(n: int) -> ir.Program:
    step: ir.Step = L("dense", I(3))
    for _ in range(n):
        step = R(1, step)
    return P(step)


SEED_IR = P(L("dense", I(64), N("relu"), N("l2")), L("dense", I(10), N("softmax")))

# --- good programs --------------------------------------------------------------------------------

GOOD: list[tuple[str, str | bytes, ir.Program]] = [
    ("seed", "dense 64 relu l2 -> dense 10 softmax", SEED_IR),
    ("seed-newline", "dense 64 relu l2 -> dense 10 softmax\n", SEED_IR),
    ("single-layer", "flatten", P(L("flatten"))),
    # values, one kind at a time
    ("int", "reshape -1", P(L("reshape", I(-1)))),
    (
        "int-big",
        "dense 999999999999999999 -999999999999999999",  # 18 digits: the most allowed
        P(L("dense", I(999999999999999999), I(-999999999999999999))),
    ),
    ("int-negative-zero", "f -0", P(L("f", I(0)))),
    ("float", "dropout 0.5", P(L("dropout", F(0.5)))),
    ("float-leading-dot", "dropout .5", P(L("dropout", F(0.5)))),
    ("float-negative-dot", "f -.25", P(L("f", F(-0.25)))),
    ("float-trailing-dot", "f 1.", P(L("f", F(1.0)))),
    ("float-exponent", "f 1e-3", P(L("f", F(0.001)))),
    ("float-exponent-upper", "f 2E5", P(L("f", F(200000.0)))),
    ("float-exponent-plus", "f 1.5e+2", P(L("f", F(150.0)))),
    ("bools", "f true false", P(L("f", B(True), B(False)))),
    ("name-like-bool", "f truex false_", P(L("f", N("truex"), N("false_")))),
    ("string", 'conv2d 32 3 "same"', P(L("conv2d", I(32), I(3), S("same")))),
    ("string-escapes", r'f "a\"b\\c"', P(L("f", S('a"b\\c')))),
    ("string-empty", 'f ""', P(L("f", S("")))),
    ("string-hash", 'f "#not a comment"', P(L("f", S("#not a comment")))),
    ("string-unicode", 'f "naïve ☃"', P(L("f", S("naïve ☃")))),
    ("names", "f relu _x a1_b2", P(L("f", N("relu"), N("_x"), N("a1_b2")))),
    ("call", "dense 64 l2(0.01)", P(L("dense", I(64), C("l2", F(0.01))))),
    ("call-kwarg", "f adam(learning_rate=1e-3)", P(L("f", C("adam", learning_rate=F(0.001))))),
    ("call-empty", "f g()", P(L("f", C("g")))),
    ("call-nested", "f g(h(1), k=m(2))", P(L("f", C("g", C("h", I(1)), k=C("m", I(2)))))),
    ("shape", "reshape 28x28x1", P(L("reshape", Sh((28, 28, 1))))),
    ("shape-2d", "conv2d 32 3x3", P(L("conv2d", I(32), Sh((3, 3))))),
    ("tuple", "conv2d 32 (3, 3)", P(L("conv2d", I(32), T(I(3), I(3))))),
    ("tuple-one", "f (1,)", P(L("f", T(I(1))))),
    ("tuple-nested", "f ((1, 2), 3)", P(L("f", T(T(I(1), I(2)), I(3))))),
    (
        "tuple-mixed",
        'f (1, 2.5, "s", x, true)',
        P(L("f", T(I(1), F(2.5), S("s"), N("x"), B(True)))),
    ),
    ("list", "f [accuracy, auc]", P(L("f", Ls(N("accuracy"), N("auc"))))),
    ("list-empty", "f []", P(L("f", Ls()))),
    ("list-one", "f [1]", P(L("f", Ls(I(1))))),
    (
        "list-of-everything",
        "f [1, (2, 3), [4], g(5), 6x6]",
        P(L("f", Ls(I(1), T(I(2), I(3)), Ls(I(4)), C("g", I(5)), Sh((6, 6))))),
    ),
    (
        "kwargs",
        'f a=1 b=.5 c=true d="s" e=n g=h(1) i=2x2 j=(1, 2) k=[x]',
        P(
            L(
                "f",
                a=I(1),
                b=F(0.5),
                c=B(True),
                d=S("s"),
                e=N("n"),
                g=C("h", I(1)),
                i=Sh((2, 2)),
                j=T(I(1), I(2)),
                k=Ls(N("x")),
            )
        ),
    ),
    ("kwargs-spaced", "f a = 1", P(L("f", a=I(1)))),
    (
        "mixed-args",
        "dense 64 relu use_bias=false l2",
        P(ir.Layer("dense", (A(I(64)), A(N("relu")), A(B(False), "use_bias"), A(N("l2"))))),
    ),
    # settings
    (
        "settings",
        "dataset: mnist\ninput: 28x28x1\nloss: categorical_crossentropy\noptimizer: adam(learning_rate=0.001)\n"
        "metrics: [accuracy, auc]\nepochs: 10\nbatch_size: 32\nvalidation_split: 0.1\nseed: 42\n"
        "dense 10 softmax\n",
        P(
            L("dense", I(10), N("softmax")),
            settings={
                "dataset": N("mnist"),
                "input": Sh((28, 28, 1)),
                "loss": N("categorical_crossentropy"),
                "optimizer": C("adam", learning_rate=F(0.001)),
                "metrics": Ls(N("accuracy"), N("auc")),
                "epochs": I(10),
                "batch_size": I(32),
                "validation_split": F(0.1),
                "seed": I(42),
            },
        ),
    ),
    (
        "setting-spacing",
        "epochs:3\nbatch_size :  8\ndense 10",
        P(L("dense", I(10)), settings={"epochs": I(3), "batch_size": I(8)}),
    ),
    (
        "setting-after-network",
        "dense 10\nepochs: 3",
        P(L("dense", I(10)), settings={"epochs": I(3)}),
    ),
    ("settings-only", "epochs: 3\n", P(settings={"epochs": I(3)})),
    ("empty", "", P()),
    ("blank-lines", "\n\n\n", P()),
    ("comments-only", "# one\n# two", P()),
    # layout
    (
        "newline-before-arrow",
        "dense 64 relu\n-> dense 10 softmax",
        P(L("dense", I(64), N("relu")), L("dense", I(10), N("softmax"))),
    ),
    (
        "newline-after-arrow",
        "dense 64 relu ->\ndense 10 softmax",
        P(L("dense", I(64), N("relu")), L("dense", I(10), N("softmax"))),
    ),
    (
        "indented-continuation",
        "dense 64 relu\n    -> dropout 0.5\n    -> dense 10 softmax",
        P(L("dense", I(64), N("relu")), L("dropout", F(0.5)), L("dense", I(10), N("softmax"))),
    ),
    (
        "blank-lines-around-arrow",
        "dense 64\n\n-> \n\n dense 10",
        P(L("dense", I(64)), L("dense", I(10))),
    ),
    (
        "crlf",
        "epochs: 3\r\ndense 64 relu\r\n-> dense 10 softmax\r\n",
        P(L("dense", I(64), N("relu")), L("dense", I(10), N("softmax")), settings={"epochs": I(3)}),
    ),
    ("crlf-after-arrow", "dense 64 ->\r\ndense 10\r\n", P(L("dense", I(64)), L("dense", I(10)))),
    (
        "tabs",
        "dense\t64\trelu\t->\tdense 10\tsoftmax\n",
        P(L("dense", I(64), N("relu")), L("dense", I(10), N("softmax"))),
    ),
    ("tab-indent", "epochs:\t3\n\tdense 10\n", P(L("dense", I(10)), settings={"epochs": I(3)})),
    ("bom", "\ufeffdense 64 relu l2 -> dense 10 softmax\n", SEED_IR),
    ("bom-bytes", b"\xef\xbb\xbfdense 64 relu l2 -> dense 10 softmax\n", SEED_IR),
    ("utf8-bytes", 'f "ü"\n'.encode(), P(L("f", S("ü")))),
    ("leading-and-trailing-space", "  \n  dense 10   \n  \n", P(L("dense", I(10)))),
    (
        "comments-everywhere",
        "# head\nepochs: 3  # after a setting\n# between\nblock b(n) = dense n  # after a block\n"
        "dense 64 relu  # after a layer\n# own line\n-> # after an arrow\n  b(10)  # end\n# tail",
        P(
            L("dense", I(64), N("relu")),
            CL("b", I(10)),
            settings={"epochs": I(3)},
            blocks=(Blk("b", ("n",), L("dense", N("n"))),),
        ),
    ),
    ("comment-no-newline", "dense 10 # c", P(L("dense", I(10)))),
    (
        "comment-before-arrow-line",
        "dense 64\n# note\n-> dense 10",
        P(L("dense", I(64)), L("dense", I(10))),
    ),
    # structure
    ("call-form-block-use", "conv(32) -> conv(64)", P(CL("conv", I(32)), CL("conv", I(64)))),
    ("call-form-args-after", "f(1) relu x=2", P(CL("f", I(1), N("relu"), x=I(2)))),
    ("call-form-kwarg-first", "f(x=1, 2)", P(ir.Layer("f", (A(I(1), "x"), A(I(2))), (), True))),
    ("call-form-empty", "f()", P(CL("f"))),
    ("call-form-name-inside", "dense(64, relu)", P(CL("dense", I(64), body=(ch(L("relu")),)))),
    (
        "residual",
        "residual(dense 64 relu -> dense 64)",
        P(CL("residual", body=(ch(L("dense", I(64), N("relu")), L("dense", I(64))),))),
    ),
    (
        "wrapper-with-kwarg",
        'bidirectional(lstm 64, merge_mode="sum")',
        P(CL("bidirectional", body=(ch(L("lstm", I(64))),), merge_mode=S("sum"))),
    ),
    (
        "repeat",
        "(conv2d 32 3 relu -> maxpool2d 2) * 2 -> flatten",
        P(R(2, L("conv2d", I(32), I(3), N("relu")), L("maxpool2d", I(2))), L("flatten")),
    ),
    ("repeat-tight", "(dense 3)*4", P(R(4, L("dense", I(3))))),
    ("group", "(dense 3 -> dense 4)", P(R(1, L("dense", I(3)), L("dense", I(4))))),
    ("group-multiline", "(dense 3\n -> dense 4) * 2", P(R(2, L("dense", I(3)), L("dense", I(4))))),
    (
        "nested-repeat",
        "((dense 3) * 2 -> dropout 0.1) * 3",
        P(R(3, R(2, L("dense", I(3))), L("dropout", F(0.1)))),
    ),
    (
        "branches",
        "[dense 32 | dense 16 relu] concat -> dense 10",
        P(Br("concat", ch(L("dense", I(32))), ch(L("dense", I(16), N("relu")))), L("dense", I(10))),
    ),
    ("branches-no-merge", "[a | b | c]", P(Br(None, ch(L("a")), ch(L("b")), ch(L("c"))))),
    (
        "branches-chains",
        "[a -> b | (c) * 2 | [d | e] add] concat",
        P(
            Br(
                "concat",
                ch(L("a"), L("b")),
                ch(R(2, L("c"))),
                ch(Br("add", ch(L("d")), ch(L("e")))),
            )
        ),
    ),
    (
        "branches-multiline-arrows",
        "[a\n -> b | c] add",
        P(Br("add", ch(L("a"), L("b")), ch(L("c")))),
    ),
    (
        "block-no-params",
        "block b = dense 3\nb -> b",
        P(L("b"), L("b"), blocks=(Blk("b", (), L("dense", I(3))),)),
    ),
    (
        "block-empty-params",
        "block b() = dense 3\nb",
        P(L("b"), blocks=(Blk("b", (), L("dense", I(3))),)),
    ),
    (
        "block-params",
        "block conv(f, k) = conv2d f k relu same -> batchnorm\nconv(32, 3) -> conv(k=5, f=64)",
        P(
            CL("conv", I(32), I(3)),
            CL("conv", k=I(5), f=I(64)),
            blocks=(
                Blk(
                    "conv",
                    ("f", "k"),
                    L("conv2d", N("f"), N("k"), N("relu"), N("same")),
                    L("batchnorm"),
                ),
            ),
        ),
    ),
    (
        "block-multiline",
        "block b = dense 3\n  -> dense 4\nb",
        P(L("b"), blocks=(Blk("b", (), L("dense", I(3)), L("dense", I(4))),)),
    ),
    (
        "two-blocks",
        "block a = x\nblock b = a -> a\nb",
        P(L("b"), blocks=(Blk("a", (), L("x")), Blk("b", (), L("a"), L("a")))),
    ),
    ("deep-but-allowed", "(" * MAX_DEPTH + "dense 3" + ")" * MAX_DEPTH, _deep(MAX_DEPTH)),
]
IDS = [g[0] for g in GOOD]
assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize(("text", "expected"), [g[1:] for g in GOOD], ids=IDS)
def test_good_program(text: str | bytes, expected: ir.Program) -> None:
    program = netdsl.parse(text)
    assert program == expected
    # equality ignores spans: compare the JSON form without spans as well, which sees types
    assert strip_spans(program.to_dict()) == strip_spans(expected.to_dict())


@pytest.mark.parametrize("text", [g[1] for g in GOOD], ids=IDS)
def test_round_trip_through_json(text: str | bytes) -> None:
    program = netdsl.parse(text, "model.net")
    data = program.to_dict()
    encoded = json.dumps(data)  # plain JSON: no tuples, no objects
    back = ir.Program.from_dict(json.loads(encoded))
    assert back == program
    assert back.to_dict() == data  # spans and comments survive too
    assert back.filename == "model.net"


@pytest.mark.parametrize("text", [g[1] for g in GOOD], ids=IDS)
def test_every_node_has_a_span_inside_the_source(text: str | bytes) -> None:
    program = netdsl.parse(text)
    source = program.source or ""

    def walk(d: Any) -> None:
        if isinstance(d, dict):
            for k, v in d.items():
                if k.endswith("span") and v is not None:
                    assert 0 <= v["start"] <= v["end"] <= len(source), (k, v)
                    assert (v["line"], v["column"]) <= (v["end_line"], v["end_column"]) or v[
                        "line"
                    ] < v["end_line"]
                    # line/column agree with the offset
                    assert source.count("\n", 0, v["start"]) + 1 == v["line"]
                    assert v["start"] - (source.rfind("\n", 0, v["start"]) + 1) + 1 == v["column"]
                elif k not in ("comments",):
                    walk(v)
        elif isinstance(d, list):
            for v in d:
                walk(v)

    walk(program.to_dict())
    for node in _nodes(program):
        if hasattr(node, "span") and not isinstance(node, (ir.Program, ir.Arg)):
            assert node.span is not None, node


def _nodes(node: Any) -> list[Any]:
    out = [node]
    if isinstance(node, ir.Node):
        for value in vars(node).values():
            out += _nodes(value)
    elif isinstance(node, tuple):
        for v in node:
            out += _nodes(v)
    return out


# --- spans -----------------------------------------------------------------------------------------


def _span(s: Span | None) -> tuple[int, int, int, int]:
    assert s is not None
    return s.line, s.column, s.end_line, s.end_column


def test_spans_of_the_seed() -> None:
    p = netdsl.parse("dense 64 relu l2 -> dense 10 softmax", "seed.net")
    first, second = p.network.steps
    assert _span(first.span) == (1, 1, 1, 17)
    assert _span(first.name_span) == (1, 1, 1, 6)
    assert [_span(a.span) for a in first.args] == [(1, 7, 1, 9), (1, 10, 1, 14), (1, 15, 1, 17)]
    assert _span(second.span) == (1, 21, 1, 37)
    assert _span(p.network.span) == (1, 1, 1, 37)
    assert first.span.file == "seed.net"


def test_spans_of_settings_kwargs_calls_and_blocks() -> None:
    p = netdsl.parse("optimizer: adam(learning_rate=1e-3)\nblock hid(n) = dense n\nhid(3) x=1")
    s = p.settings[0]
    assert _span(s.key_span) == (1, 1, 1, 10) and _span(s.span) == (1, 1, 1, 36)
    call = s.value
    assert _span(call.name_span) == (1, 12, 1, 16) and _span(call.span) == (1, 12, 1, 36)
    assert _span(call.args[0].key_span) == (1, 17, 1, 30)
    b = p.blocks[0]
    assert _span(b.name_span) == (2, 7, 2, 10) and _span(b.span) == (2, 1, 2, 23)
    use = p.network.steps[0]
    assert _span(use.name_span) == (3, 1, 3, 4) and _span(use.span) == (3, 1, 3, 11)


def test_spans_of_structure() -> None:
    p = netdsl.parse("(dense 3) * 12 -> [a | b] add")
    rep, br = p.network.steps
    assert _span(rep.span) == (1, 1, 1, 15) and _span(rep.times_span) == (1, 13, 1, 15)
    assert _span(br.span) == (1, 19, 1, 30) and _span(br.merge_span) == (1, 27, 1, 30)


def test_spans_after_crlf_tabs_and_bom() -> None:
    p = netdsl.parse("epochs: 3\r\n\tdense 64\r\n-> dense 10\r\n")
    first, second = p.network.steps
    assert _span(first.span) == (2, 2, 2, 10)  # a tab is one column (one character)
    assert _span(second.span) == (3, 4, 3, 12)
    p = netdsl.parse("\ufeffdense 64")  # the BOM is not a column
    assert _span(p.network.steps[0].span) == (1, 1, 1, 9)


def test_multiline_spans() -> None:
    p = netdsl.parse("(dense 3\n -> dense 4) * 2")
    rep = p.network.steps[0]
    assert _span(rep.span) == (1, 1, 2, 17)


def test_comments_are_kept_with_their_spans() -> None:
    p = netdsl.parse('# a\ndense 3 "#no" # b\r\n# c')
    assert [(c.text, _span(c.span)) for c in p.comments] == [
        ("# a", (1, 1, 1, 4)),
        ("# b", (2, 15, 2, 18)),
        ("# c", (3, 1, 3, 4)),
    ]
    assert netdsl.parse('dense 3 "#no"') == p  # comments never take part in equality


def test_program_keeps_filename_and_source() -> None:
    p = netdsl.parse(b"dense 3\n", "x.net")
    assert p.filename == "x.net" and p.source == "dense 3\n"
    assert p.setting("epochs") is None
    assert netdsl.parse("epochs: 4\ndense 3").setting("epochs").value == I(4)


def test_floats_are_real_floats() -> None:
    v = netdsl.parse("f 1e308 -1e308 5e-324").network.steps[0].args
    assert v[0].value.value == 1e308 and v[1].value.value == -1e308 and v[2].value.value > 0
    assert all(isinstance(a.value.value, float) and math.isfinite(a.value.value) for a in v)


# --- the JSON form ---------------------------------------------------------------------------------


def test_json_shape_is_the_documented_one() -> None:
    data = netdsl.parse(
        "epochs: 3\nblock b(n) = dense n\nb(2) -> dense 10 softmax # c\n", "m.net"
    ).to_dict()
    assert set(data) == {
        "type",
        "version",
        "filename",
        "uses",
        "settings",
        "blocks",
        "network",
        "comments",
    }
    assert data["type"] == "program" and data["version"] == 1 and data["filename"] == "m.net"
    assert data["settings"][0] == {
        "type": "setting",
        "key": "epochs",
        "value": {
            "type": "int",
            "value": 3,
            "span": {"start": 8, "end": 9, "line": 1, "column": 9, "end_line": 1, "end_column": 10},
        },
        "span": {"start": 0, "end": 9, "line": 1, "column": 1, "end_line": 1, "end_column": 10},
        "key_span": {"start": 0, "end": 6, "line": 1, "column": 1, "end_line": 1, "end_column": 7},
    }
    block = data["blocks"][0]
    assert (block["type"], block["name"], block["params"]) == ("block", "b", ["n"])
    assert set(block) == {"type", "name", "params", "body", "span", "name_span"}
    layer = data["network"]["steps"][0]
    assert set(layer) == {"type", "name", "args", "body", "call", "span", "name_span"}
    assert (layer["type"], layer["call"], layer["body"]) == ("layer", True, [])
    assert set(layer["args"][0]) == {"type", "value", "key", "span", "key_span"}
    assert data["comments"][0]["text"] == "# c"


def test_json_of_every_value_kind() -> None:
    p = netdsl.parse('f 1 2.5 true "s" n 2x3 (1, 2) [1] g(k=1)')
    values = [strip_spans(a.value.to_dict()) for a in p.network.steps[0].args]
    assert values == [
        {"type": "int", "value": 1},
        {"type": "float", "value": 2.5},
        {"type": "bool", "value": True},
        {"type": "str", "value": "s"},
        {"type": "name", "value": "n"},
        {"type": "shape", "dims": [2, 3]},
        {"type": "tuple", "items": [{"type": "int", "value": 1}, {"type": "int", "value": 2}]},
        {"type": "list", "items": [{"type": "int", "value": 1}]},
        {
            "type": "call",
            "name": "g",
            "args": [{"type": "arg", "value": {"type": "int", "value": 1}, "key": "k"}],
        },
    ]


def test_json_of_structure() -> None:
    p = netdsl.parse("(a) * 2 -> [b | c] add")
    rep, br = (strip_spans(s.to_dict()) for s in p.network.steps)
    assert rep["type"] == "repeat" and rep["times"] == 2 and rep["chain"]["type"] == "chain"
    assert br["type"] == "branches" and br["merge"] == "add" and len(br["chains"]) == 2


@pytest.mark.parametrize(
    "bad", [None, [], {}, {"type": "layer"}, {"type": "program", "network": {"type": "nope"}}]
)
def test_from_dict_rejects_other_data(bad: Any) -> None:
    with pytest.raises(ValueError):
        ir.Program.from_dict(bad)


def test_from_dict_without_spans() -> None:
    data = strip_spans(netdsl.parse("dense 64 relu l2 -> dense 10 softmax").to_dict())
    assert ir.Program.from_dict(data) == SEED_IR


# --- syntax errors ---------------------------------------------------------------------------------

BAD: list[tuple[str, str | bytes, str, tuple[int, int], str]] = [
    # id, text, code, (line, column), words in the message
    (
        "double-arrow",
        "dense 64 relu -> -> dense 10",
        "NDL001",
        (1, 18),
        "expected a layer, found `->`",
    ),
    (
        "arrow-at-end",
        "dense 64 ->",
        "NDL001",
        (1, 12),
        "expected a layer, found the end of the file",
    ),
    ("arrow-then-newline-at-end", "dense 64 ->\n", "NDL001", (1, 12), "expected a layer"),
    ("arrow-first", "-> dense 10", "NDL001", (1, 1), "found `->`"),
    ("unclosed-paren", "(dense 64", "NDL001", (1, 10), "unclosed `(`"),
    ("unclosed-bracket", "[a | b", "NDL001", (1, 7), "unclosed `[`"),
    ("unclosed-call", "f(1, 2", "NDL001", (1, 7), "unclosed `(`"),
    ("stray-close", "dense 64)", "NDL001", (1, 9), "found `)`"),
    ("stray-character", "dense 64 $", "NDL002", (1, 10), "unexpected character `$`"),
    ("stray-unicode", "dense 64 ☃", "NDL002", (1, 10), "unexpected character `☃`"),
    ("control-character", "dense\x0064", "NDL002", (1, 6), "unexpected character `\\x00`"),
    ("unclosed-string", 'f "abc', "NDL002", (1, 3), "unclosed string"),
    ("string-across-lines", 'f "ab\nc"', "NDL002", (1, 3), "unclosed string"),
    ("second-network", "dense 3\ndense 4", "NDL002", (2, 1), "second one"),
    ("stray-comma", "dense 3, 4", "NDL001", (1, 8), "unexpected `,`"),
    ("kwarg-no-value", "f a=", "NDL001", (1, 5), "expected a value"),
    ("setting-no-value", "epochs:\ndense 3", "NDL001", (1, 8), "found the end of the line"),
    ("bad-block", "block = dense 3", "NDL001", (1, 7), "found `=`"),
    ("branch-one-chain", "[a] add", "NDL001", (1, 3), "found `]`"),
    ("repeat-name", "(a) * n", "NDL001", (1, 7), "found `n`"),
    ("not-utf8", b"dense 64\xff", "NDL009", (1, 9), "not valid UTF-8 (byte 0xff)"),
    ("not-utf8-line-3", b"a\nb\nc \xc3(", "NDL009", (3, 3), "(byte 0xc3)"),
    (
        "too-deep",
        "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1),
        "NDL012",
        (1, 1),
        "nest more than",
    ),
    (
        "too-deep-calls",
        "f " + "g(" * (MAX_DEPTH + 1) + ")" * (MAX_DEPTH + 1),
        "NDL012",
        (1, 3),
        "nest more than",
    ),
    (
        "too-deep-kwarg-calls",
        "f " + "g(k=" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
        "NDL012",
        (1, 3),
        "nest more than",
    ),
    (
        "too-deep-lists",
        "f " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "NDL012",
        (1, 3),
        "nest more than",
    ),
]


@pytest.mark.parametrize(
    ("text", "code", "where", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_syntax_error(text: str | bytes, code: str, where: tuple[int, int], words: str) -> None:
    with pytest.raises(NetdslError) as info:
        netdsl.parse(text, "bad.net")
    err = info.value
    owner = NetdslLimitError if code == "NDL012" else NetdslSyntaxError  # each code has one class
    assert isinstance(err, owner)
    assert err.code == code
    assert (err.span.line, err.span.column) == where, err.message
    assert words in err.message
    assert err.span.file == "bad.net" and err.source is not None
    netdsl.render(err)  # renders without raising


def test_deepest_allowed_nesting_of_each_bracket_checks_and_formats(registry: Any) -> None:
    n = MAX_DEPTH
    for text in [
        "(" * n + "dense 10 softmax" + ")" * n,
        "dense 10 softmax " + "l2(" * (n - 1) + "0.1" + ")" * (n - 1),
        "[" * n + "dense 10 softmax" + " | dense 10 softmax] add" * n,
    ]:
        p = netdsl.parse(text)
        assert netdsl.parse(netdsl.format(p)) == p
        assert ir.Program.from_dict(json.loads(json.dumps(p.to_dict()))) == p
        with contextlib.suppress(NetdslError):
            netdsl.check(p, registry)


def test_packaged_lalr_tables_are_built_from_this_grammar() -> None:
    """`netdsl check` loads prebuilt tables; stale ones would silently cost ~90 ms a process.
    Fresh means built from this grammar; with another Lark than the one they were built with
    they are not used (the next test), so this holds under every Lark the project allows."""
    from netdsl.lang import parser

    blob = json.loads(parser.TABLES.read_text())
    assert blob["grammar"] == parser._grammar_hash(parser.grammar_text()), (
        "grammar changed: run `python -m netdsl.lang.parser` to rebuild the tables"
    )
    if blob["lark"] == parser.lark_version:
        assert parser._load_tables(parser.grammar_text(), parser._ToIR()) is not None


def test_tables_of_another_lark_or_grammar_are_ignored_and_the_parser_is_built(
    tmp_path, monkeypatch
) -> None:
    from netdsl.lang import parser

    tables = tmp_path / "tables.json"
    parser.write_tables(tables)
    text = parser.grammar_text()
    assert parser._load_tables(text, parser._ToIR(), tables) is not None
    assert parser._load_tables(text + "\n// edited\n", parser._ToIR(), tables) is None
    monkeypatch.setattr(parser, "lark_version", "0.0.1")  # tables written by another Lark
    assert parser._load_tables(text, parser._ToIR(), tables) is None
    monkeypatch.setattr(parser, "TABLES", tables)
    monkeypatch.setattr(parser, "_parser", None)
    assert netdsl.parse("dense 64 relu l2 -> dense 10 softmax") == SEED_IR  # built from the grammar


def test_tables_file_is_json_checked_before_use_never_unpickled(tmp_path, monkeypatch) -> None:
    import pickle

    from netdsl.lang import parser

    class Boom:
        def __reduce__(self):  # unpickling this would create a file
            return (open, (str(tmp_path / "pwned"), "w"))

    text = parser.grammar_text()
    bad = tmp_path / "tables.json"
    bad.write_bytes(pickle.dumps({"key": parser._tables_key(text), "x": Boom()}))
    assert parser._load_tables(text, parser._ToIR(), bad) is None
    assert not (tmp_path / "pwned").exists()
    # the right key over damaged data: ignored too (the parser is built instead), no exception
    bad.write_text(json.dumps({"key": parser._tables_key(text), "data": {"x": 1}, "memo": []}))
    assert parser._load_tables(text, parser._ToIR(), bad) is None
    bad.write_text("not json")
    assert parser._load_tables(text, parser._ToIR(), bad) is None
    monkeypatch.setattr(parser, "TABLES", bad)
    monkeypatch.setattr(parser, "_parser", None)
    assert netdsl.parse("dense 64 relu l2 -> dense 10 softmax") == SEED_IR


def test_parse_leaves_the_garbage_collector_alone(monkeypatch) -> None:
    import gc

    calls: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    netdsl.parse("dense 64 relu -> dense 10 softmax")
    assert calls == [] and gc.isenabled()
