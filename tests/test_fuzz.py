"""Property tests (hypothesis).

* Random valid programs, built as IR from the grammar's pieces (settings, blocks, layers with
  arguments of every value kind, call-form layers, groups, repetition, branches), survive
  ``parse(format(p)) == p``, and formatting is idempotent; comments added anywhere survive too.
* Random valid models (dense, dropout, batchnorm, activation, repetition) check with the
  parameter counts and shapes worked out alongside them, before and after formatting.
* Random text, random bytes and random mutations of valid programs never make ``parse``,
  ``check``, ``format``, ``render`` or the CLI raise anything but a ``NetdslError``.

Example counts keep the whole file well under 30 s (``deadline=None``: some inputs are big).
"""

from __future__ import annotations

import json
import string
from typing import Any

from click.testing import CliRunner
from conftest import builtin_registry, has_layers
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import netdsl
from netdsl.errors import NetdslError
from netdsl.lang import ir
from netdsl.lang.diagnostics import render, to_json
from netdsl.tools import cli

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- valid programs as IR ----------------------------------------------------------------------------

RESERVED = {"true", "false", "block"}
REAL_NAMES = [
    "dense",
    "dropout",
    "flatten",
    "reshape",
    "activation",
    "batchnorm",
    "conv2d",
    "maxpool2d",
    "lstm",
    "residual",
    "concat",
    "add",
    "relu",
    "softmax",
    "l2",
    "same",
    "adam",
    "accuracy",
    "units",
    "rate",
    "epochs",
    "input",
    "x",
    "_",
    "a1",
]
_HEAD = string.ascii_letters + "_"
names = st.one_of(
    st.sampled_from(REAL_NAMES),
    st.tuples(st.sampled_from(_HEAD), st.text(_HEAD + string.digits, max_size=6)).map("".join),
).filter(lambda n: n not in RESERVED)

ints = st.one_of(
    st.integers(-1000, 1000), st.integers(-(10**18 - 1), 10**18 - 1)
)  # 18 digits at most
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # 1e999 (infinity) is an error
    st.sampled_from([0.0, 0.5, 1e-3, 2.5e10, 1e16, 1e-7, 5e-324]),
)
# a string may hold anything but a line break; `"` and `\` are escaped by the formatter
strings = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=12
)
dims = st.lists(st.integers(0, 10**6), min_size=2, max_size=4)

literal_values = st.one_of(
    ints.map(ir.Int),
    floats.map(ir.Float),
    st.booleans().map(ir.Bool),
    strings.map(ir.Str),
    dims.map(lambda d: ir.Shape(tuple(d))),
)


def _compound(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    args = st.lists(
        st.one_of(inner.map(ir.Arg), st.tuples(names, inner).map(lambda kv: ir.Arg(kv[1], kv[0]))),
        max_size=2,
    ).map(tuple)
    return st.one_of(
        st.lists(inner, min_size=1, max_size=2).map(lambda xs: ir.Tuple(tuple(xs))),
        st.lists(inner, max_size=2).map(lambda xs: ir.List(tuple(xs))),
        st.tuples(names, args).map(lambda t: ir.Call(t[0], t[1])),
    )


values = st.recursive(st.one_of(literal_values, names.map(ir.Name)), _compound, max_leaves=3)
args = st.one_of(values.map(ir.Arg), st.tuples(names, values).map(lambda kv: ir.Arg(kv[1], kv[0])))
arg_lists = st.lists(args, max_size=3).map(tuple)


def _steps(chain: st.SearchStrategy[ir.Chain]) -> st.SearchStrategy[Any]:
    return st.one_of(
        # a call-form layer: `name(values and chains) more args`
        st.tuples(names, arg_lists, st.lists(chain, max_size=2)).map(
            lambda t: ir.Layer(t[0], t[1], tuple(t[2]), True)
        ),
        st.tuples(chain, st.integers(-2, 1000)).map(lambda t: ir.Repeat(t[0], t[1])),
        st.tuples(st.lists(chain, min_size=2, max_size=3), st.none() | names).map(
            lambda t: ir.Branches(tuple(t[0]), t[1])
        ),
    )


plain_layers = st.tuples(names, arg_lists).map(lambda t: ir.Layer(t[0], t[1]))


def _chains(step: st.SearchStrategy[Any]) -> st.SearchStrategy[ir.Chain]:
    return st.lists(step, min_size=1, max_size=3).map(lambda s: ir.Chain(tuple(s)))


steps = st.recursive(plain_layers, lambda inner: _steps(_chains(inner)), max_leaves=5)
chains = _chains(steps)

programs = st.builds(
    ir.Program,
    settings=st.lists(
        st.tuples(names, values).map(lambda kv: ir.Setting(kv[0], kv[1])), max_size=3
    ).map(tuple),
    blocks=st.lists(
        st.tuples(names, st.lists(names, max_size=3), chains).map(
            lambda t: ir.BlockDef(t[0], tuple(t[1]), t[2])
        ),
        max_size=2,
    ).map(tuple),
    network=st.none() | chains,
)


@FAST
@given(programs)
def test_generated_programs_round_trip(program: ir.Program) -> None:
    text = netdsl.format(program)
    parsed = netdsl.parse(text)
    assert parsed == program, text
    assert netdsl.format(parsed) == text
    # and the JSON form
    assert ir.Program.from_dict(json.loads(json.dumps(parsed.to_dict()))) == parsed


@FAST
@given(programs, st.data())
def test_comments_anywhere_survive_formatting(program: ir.Program, data: st.DataObject) -> None:
    lines = netdsl.format(program).split("\n")[:-1]  # (not splitlines: a string may hold \x1e)
    out, expected = [], []
    for i, line in enumerate(lines):
        if data.draw(st.booleans(), label=f"comment line before {i}"):
            text = f"# c{len(expected)}"
            out.append(text)
            expected.append(text)
        if data.draw(st.booleans(), label=f"comment after {i}") and line.strip():
            text = f"# c{len(expected)} {data.draw(strings.filter(lambda s: chr(13) not in s))}".rstrip()
            out.append(f"{line} {text}")
            expected.append(text)
        else:
            out.append(line)
    source = "\n".join(out) + "\n"
    parsed = netdsl.parse(source)
    assert parsed == program
    assert [c.text for c in parsed.comments] == expected
    formatted = netdsl.format(parsed)
    again = netdsl.parse(formatted)
    assert again == program
    assert [c.text for c in again.comments] == expected, formatted
    assert netdsl.format(again) == formatted


@FAST
@given(programs, st.sampled_from(["\n", "\r\n"]), st.sampled_from(["", "\ufeff"]))
def test_line_endings_and_bom_do_not_matter(program: ir.Program, newline: str, bom: str) -> None:
    text = bom + netdsl.format(program).replace("\n", newline)
    assert netdsl.parse(text) == program
    assert netdsl.parse(text.encode("utf-8")) == program


# --- valid models: the checker's arithmetic, and formatting that keeps the meaning ----------------------

ACTIVATIONS = ["relu", "tanh", "sigmoid", "softmax", "elu", "gelu", "linear", "relu6"]


@st.composite
def mlp_steps(draw: st.DrawFn, width: int, depth: int = 0) -> tuple[list[str], int, int, list[int]]:
    """Steps over an input of ``width`` features: (texts, out width, params, output widths)."""
    texts: list[str] = []
    params, widths = 0, []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                ["dense", "dense", "dropout", "batchnorm", "activation", "group"]
                if depth < 2
                else ["dense", "dropout"]
            )
        )
        if kind == "dense":
            units, bias = draw(st.integers(1, 64)), draw(st.booleans())
            parts = ["dense", str(units)]
            parts += draw(st.lists(st.sampled_from(ACTIVATIONS), max_size=1))
            parts += draw(
                st.lists(
                    st.sampled_from(["l1", "l2", "l2(0.01)", "l1_l2(l1=0.1, l2=0.2)"]), max_size=1
                )
            )
            parts += [] if bias else ["use_bias=false"]
            rest = parts[2:]
            parts[2:] = draw(st.permutations(rest))  # names bind by what they are, in any order
            params += width * units + (units if bias else 0)
            width = units
            texts.append(" ".join(parts))
        elif kind == "dropout":
            texts.append(f"dropout {draw(st.floats(0, 0.99)):.3f}")
        elif kind == "batchnorm":
            texts.append("batchnorm")
            params += 4 * width
        elif kind == "activation":
            texts.append(f"activation {draw(st.sampled_from(ACTIVATIONS))}")
        else:
            times = draw(st.integers(1, 3))
            inner, out, p, ws = draw(mlp_steps(width, depth + 1))
            inner2, out2, p2, ws2 = (inner, out, p, ws)
            if out != width and times > 1:  # a repeated body must keep its width
                inner2, out2, p2, ws2 = draw(mlp_steps(width, depth + 1))
                times = 1
            texts.append(f"({' -> '.join(inner2)}) * {times}")
            params += p2 * times  # a repeated body keeps its width, so every copy counts the same
            widths += ws2 * times
            width = out2
            continue
        widths.append(width)
    return texts, width, params, widths


@st.composite
def mlps(draw: st.DrawFn) -> tuple[str, int, list[int]]:
    texts, width, params, widths = draw(mlp_steps(784))
    texts.append("dense 10 softmax")
    params += width * 10 + 10
    widths.append(10)
    sep = draw(st.sampled_from([" -> ", "\n-> ", " ->\n  ", "  ->  "]))
    return "input: 784\n" + sep.join(texts) + "\n", params, widths


@FAST
@given(mlps())
def test_valid_models_check_with_the_right_counts(case: tuple[str, int, list[int]]) -> None:
    text, params, widths = case
    model = netdsl.check(text, builtin_registry())
    assert model.total_params == params, text
    assert [n.output_shape[0] for n in model.nodes] == widths, text
    # formatting keeps the meaning, not just the syntax
    again = netdsl.check(netdsl.format(netdsl.parse(text)), builtin_registry())
    assert again.total_params == params
    assert [n.text for n in again.nodes] == [n.text for n in model.nodes]


# --- nothing but NetdslError -------------------------------------------------------------------------

CORPUS = [
    "dense 64 relu l2 -> dense 10 softmax\n",
    "# seed\nepochs: 3\nbatch_size: 64\noptimizer: adam(learning_rate=1e-3)\nmetrics: [accuracy, auc]\n"
    "validation_split: 0.1\nseed: 1\ninput: 28x28x1\n\ndense 64 relu l2(0.01) -> dropout .5\n  -> dense 10 softmax\n",
    "block hidden(n, p) = dense n relu -> dropout p\n(hidden(64, 0.2)) * 2 -> hidden(n=32, p=0.1)"
    " -> dense 10 softmax\n",
    'reshape (28, 28, 1) -> flatten -> dense 10 softmax kernel_initializer="zeros" use_bias=false\n',
    "input: 28x28x1\nconv2d 32 3x3 relu same -> maxpool2d 2 -> residual(conv2d 32 3 relu same -> conv2d 32 3 same)"
    " -> [conv2d 8 1 | conv2d 8 3 same] concat -> global_avgpool2d -> dense 10 softmax\n",
    "input: 28x28\nlstm 32 return_sequences=true -> lstm 16 -> dense 10 softmax\n",
    "dense(64, relu) -> batchnorm -> activation softmax -> dense 10 softmax\r\n",
    "",
]
ALPHABET = [
    *list("abcdefxyz0123456789 \t\n\r#()[]|*=,:->.\"'\\e+_\x00\x7f"),
    "->",
    "dense",
    "block ",
    "true",
    "\ufeff",
    "é",
    "☃",
    "\u2028",
    "1e999",
    "(",
    "[",
    "l2(",
    "*",
    "\r\n",
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(CORPUS) | programs.map(netdsl.format))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        piece = draw(st.sampled_from(ALPHABET) | st.characters(blacklist_categories=("Cs",)))
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 4)) :]
        elif op == "replace":
            text = text[:at] + piece + text[at + 1 :]
        elif op == "truncate":
            text = text[:at]
        else:
            text = text[:at] + text[at : at + draw(st.integers(1, 20))] + text[at:]
    return text


def _exercise(source: str | bytes) -> None:
    """parse, format, re-parse, check, render: only NetdslError may come out, and it renders."""
    registry = builtin_registry()
    try:
        program = netdsl.parse(source, "fuzz.net")
        text = netdsl.format(program)
        assert netdsl.parse(text) == program, (source, text)
        assert netdsl.format(netdsl.parse(text)) == text
        json.dumps(program.to_dict())
        model = netdsl.check(program, registry)
        json.dumps(model.to_dict())
        from netdsl.tools.summary import summary_text

        summary_text(model)
    except NetdslError as e:
        for err in e.errors:
            assert err.code.startswith("NDL") and err.message
        out = render(e) + render(e, color=True)
        assert "Traceback" not in out
        json.loads(to_json([e]))


@FAST
@given(mutated())
@example("dense 64 relu -> dense 10 softmax -> (dense 10) * 99999999999999999999")
@example("f(x=1, 2)")
@example("(" * 3000)
@example("dense " + "l2(k=" * 3000)
@example("block a = a\na")
def test_mutated_programs_raise_only_netdsl_errors(source: str) -> None:
    _exercise(source)


@FAST
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_random_text_raises_only_netdsl_errors(source: str) -> None:
    _exercise(source)


@FAST
@given(st.text(alphabet=string.ascii_lowercase[:6] + '0123456789 ()[]|*=,:->.\n#"x', max_size=60))
def test_grammar_soup_raises_only_netdsl_errors(source: str) -> None:
    _exercise(source)


@FAST
@given(
    st.binary(max_size=80)
    | mutated()
    .map(lambda s: s.encode("utf-8"))
    .flatmap(lambda b: st.integers(0, len(b)).map(lambda i: b[:i] + b"\xff\xc3" + b[i:]))
)
def test_random_bytes_raise_only_netdsl_errors(source: bytes) -> None:
    _exercise(source)


@FAST
@given(programs)
def test_generated_programs_check_without_crashing(program: ir.Program) -> None:
    _exercise(netdsl.format(program))


@SLOW
@given(
    mutated() | st.binary(max_size=60),
    st.sampled_from(
        [
            ["check", "-"],
            ["check", "--json", "-"],
            ["fmt", "-"],
            ["fmt", "--check", "-"],
            ["summary", "-"],
            ["summary", "--json", "-"],
        ]
    ),
)
def test_cli_exits_0_or_1_on_any_input(source: str | bytes, verb: list[str]) -> None:
    result = CliRunner().invoke(cli.main, ["--no-plugins", *verb], input=source)
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


def test_the_corpus_is_valid_where_the_registry_allows() -> None:
    """The mutation corpus starts from good programs (so mutations reach the checker's depths)."""
    for text in CORPUS[:4] + CORPUS[6:7]:
        netdsl.check(text, builtin_registry())
    if has_layers("conv2d", "residual", "concat", "lstm", "global_avgpool2d"):
        for text in CORPUS[4:6]:
            netdsl.check(text, builtin_registry())


# --- from_dict on anything -------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from([*list(ir._NODE_TYPES), "start", "end", "line", "column"]),
)
json_data = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "value",
                    "items",
                    "args",
                    "name",
                    "key",
                    "span",
                    "steps",
                    "network",
                    "settings",
                    "chains",
                    "chain",
                    "times",
                    "dims",
                    "body",
                    "params",
                    "comments",
                    "text",
                    "call",
                    "merge",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=30,
)
_SEED = netdsl.parse(
    "epochs: 2\nblock b(f) = dense f\n(b(3) -> [dense 1 | dense 2] add) * 2 -> "
    'residual(dense 4 l2(0.1)) -> conv2d 3 3x3 (1, 2) [a] "s" true # c\n'
).to_dict()


def _mutate(data: Any, path: list[Any], new: Any) -> Any:
    """``data`` with the item at ``path`` (keys and indexes) replaced by ``new``."""
    if not path:
        return new
    if isinstance(data, dict):
        return {**data, path[0]: _mutate(data[path[0]], path[1:], new)}
    return [(_mutate(x, path[1:], new) if i == path[0] else x) for i, x in enumerate(data)]


def _paths(data: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*at, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*at, i))
    return out


_SEED_PATHS = _paths(_SEED)


@FAST
@given(data=json_data)
@example(data={"type": "program", "network": {"type": "chain", "steps": []}})
@example(data={"type": "program", "settings": [{"type": "setting", "key": "x", "value": 3}]})
@example(data={"type": "program", "version": True})
def test_from_dict_of_random_data_raises_only_its_error(data: Any) -> None:
    if isinstance(data, dict) and data.get("type") != "program" and data:
        data = {**data, "type": "program"}
    try:
        program = ir.Program.from_dict(data)
    except ir.NetdslIRError as e:
        assert isinstance(e, ValueError) and isinstance(e, NetdslError) and e.code == "NDL014"
        return
    assert netdsl.parse(netdsl.format(program)) == program  # whatever it accepts is a real program


@FAST
@given(where=st.sampled_from(_SEED_PATHS), new=json_data)
def test_from_dict_of_a_damaged_program_raises_only_its_error(
    where: tuple[Any, ...], new: Any
) -> None:
    data = _mutate(_SEED, list(where), new)
    try:
        program = ir.Program.from_dict(data)
    except ir.NetdslIRError as e:
        assert e.message.split(":")[0].startswith(("program", "not a netdsl program", "filename"))
        return
    assert netdsl.parse(netdsl.format(program)) == program
