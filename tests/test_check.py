"""The checker: names, binding, shapes and parameter counts of good programs; codes of bad ones.

Expected parameter counts are worked out by hand (Keras's formulas), not copied from output:
dense n->m has n*m + m, conv2d k x k over c channels to f has k*k*c*f + f, an LSTM of u units
over f features has 4*(u*(f+u) + u), batchnorm has 4 per channel.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import SEED, has_layers, needs_layers

import netdsl
from netdsl.checking.checker import MAX_LAYERS, CheckedModel
from netdsl.errors import NetdslError, NetdslErrors
from netdsl.vocab.components import Ref, Regularizer
from netdsl.vocab.registry import Provider, load_registry

# --- good programs -----------------------------------------------------------------------------------

# id, text, [(layer, output shape without batch)], total params
GOOD: list[Any] = [
    ("seed", SEED, [("flatten", (784,)), ("dense", (64,)), ("dense", (10,))], 50_890),
    ("one-layer", "dense 10 softmax", [("flatten", (784,)), ("dense", (10,))], 7_850),
    (
        "no-bias",
        "dataset: synthetic\ninput: 100\ndense 10 softmax use_bias=false",
        [("dense", (10,))],
        1_000,
    ),
    (
        "dropout",
        "dense 64 relu -> dropout 0.5 -> dense 10 softmax",
        [("flatten", (784,)), ("dense", (64,)), ("dropout", (64,)), ("dense", (10,))],
        50_890,
    ),
    (
        "keywords",
        "dense units=64 activation=relu kernel_regularizer=l2(0.01) -> dense 10 softmax",
        [("flatten", (784,)), ("dense", (64,)), ("dense", (10,))],
        50_890,
    ),
    (
        "order-free-names",
        "dense 64 l2 relu -> dense 10 softmax",
        [("flatten", (784,)), ("dense", (64,)), ("dense", (10,))],
        50_890,
    ),
    (
        "repeat",
        "(dense 32 relu) * 2 -> dense 10 softmax",
        [("flatten", (784,)), ("dense", (32,)), ("dense", (32,)), ("dense", (10,))],
        784 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10,
    ),
    (
        "group-once",
        "(dense 32 relu -> dropout 0.1) -> dense 10 softmax",
        [("flatten", (784,)), ("dense", (32,)), ("dropout", (32,)), ("dense", (10,))],
        784 * 32 + 32 + 330,
    ),
    (
        "block",
        "block hidden(n) = dense n relu -> dropout 0.2\nhidden(128) -> hidden(64) -> dense 10 softmax",
        [
            ("flatten", (784,)),
            ("dense", (128,)),
            ("dropout", (128,)),
            ("dense", (64,)),
            ("dropout", (64,)),
            ("dense", (10,)),
        ],
        784 * 128 + 128 + 128 * 64 + 64 + 650,
    ),
    (
        "block-keyword-use",
        "block hidden(n, p) = dense n relu -> dropout p\nhidden(p=0.5, n=16) -> dense 10 softmax",
        [("flatten", (784,)), ("dense", (16,)), ("dropout", (16,)), ("dense", (10,))],
        784 * 16 + 16 + 170,
    ),
    (
        "block-no-params",
        "block head = dense 10 softmax\nhead",
        [("flatten", (784,)), ("dense", (10,))],
        7_850,
    ),
    (
        "block-in-block",
        "block a(n) = dense n relu\nblock b(n) = a(n) -> a(n)\nb(16) -> dense 10 softmax",
        [("flatten", (784,)), ("dense", (16,)), ("dense", (16,)), ("dense", (10,))],
        784 * 16 + 16 + 16 * 16 + 16 + 170,
    ),
    (
        "block-call-value",
        "block h(n, r) = dense n relu r\nh(64, l2(0.01)) -> dense 10 softmax",
        [("flatten", (784,)), ("dense", (64,)), ("dense", (10,))],
        50_890,
    ),
    (
        "call-form-layer",
        "dense(64, relu) -> dense(10, softmax)",
        [("flatten", (784,)), ("dense", (64,)), ("dense", (10,))],
        50_890,
    ),
    (
        "batchnorm",
        "dataset: synthetic\ninput: 20\nbatchnorm -> dense 10 softmax",
        [("batchnorm", (20,)), ("dense", (10,))],
        20 * 4 + 210,
    ),
    ("reshape", "reshape 784 -> dense 10 softmax", [("reshape", (784,)), ("dense", (10,))], 7_850),
    (
        "reshape-unknown-axis",
        "reshape (-1, 28) -> flatten -> dense 10 softmax",
        [("reshape", (28, 28)), ("flatten", (784,)), ("dense", (10,))],
        7_850,
    ),
    (
        "activation-layer",
        "dense 10 -> activation softmax",
        [("flatten", (784,)), ("dense", (10,)), ("activation", (10,))],
        7_850,
    ),
    ("input-vector", "input: 784\ndense 10 softmax", [("dense", (10,))], 7_850),
    ("input-tuple", "input: (784,)\ndense 10 softmax", [("dense", (10,))], 7_850),
    (
        "crlf-tabs-comments",
        "# model\r\nepochs: 2\t# two\r\ndense\t64 relu\r\n  -> dense 10 softmax # out\r\n",
        [("flatten", (784,)), ("dense", (64,)), ("dense", (10,))],
        50_890,
    ),
    pytest.param(
        "conv",
        "conv2d 32 3 relu -> maxpool2d 2 -> flatten -> dense 10 softmax",
        [
            ("conv2d", (26, 26, 32)),
            ("maxpool2d", (13, 13, 32)),
            ("flatten", (5408,)),
            ("dense", (10,)),
        ],
        3 * 3 * 32 + 32 + 5408 * 10 + 10,
        marks=needs_layers("conv2d", "maxpool2d"),
        id="conv",
    ),
    pytest.param(
        "conv-same",
        "conv2d 8 3x3 relu same -> flatten -> dense 10 softmax",
        [("conv2d", (28, 28, 8)), ("flatten", (6272,)), ("dense", (10,))],
        80 + 62_730,
        marks=needs_layers("conv2d"),
        id="conv-same",
    ),
    pytest.param(
        "conv-block-repeat",
        "block conv(f) = conv2d f 3 relu same -> maxpool2d 2\n(conv(8)) * 2 -> flatten -> dense 10 softmax",
        [
            ("conv2d", (28, 28, 8)),
            ("maxpool2d", (14, 14, 8)),
            ("conv2d", (14, 14, 8)),
            ("maxpool2d", (7, 7, 8)),
            ("flatten", (392,)),
            ("dense", (10,)),
        ],
        80 + (9 * 8 * 8 + 8) + 3_930,
        marks=needs_layers("conv2d", "maxpool2d"),
        id="conv-block-repeat",
    ),
    pytest.param(
        "lstm",
        "lstm 32 -> dense 10 softmax",
        [("reshape", (28, 28)), ("lstm", (32,)), ("dense", (10,))],
        4 * (32 * (28 + 32) + 32) + 330,
        marks=needs_layers("lstm"),
        id="lstm",
    ),
    pytest.param(
        "residual",
        "dataset: synthetic\ninput: 64\nresidual(dense 64 relu) -> dense 10 softmax",
        [("dense", (64,)), ("residual", (64,)), ("dense", (10,))],
        64 * 64 + 64 + 650,
        marks=needs_layers("residual"),
        id="residual",
    ),
    pytest.param(
        "concat",
        "dataset: synthetic\ninput: 16\n[dense 8 | dense 4] concat -> dense 10 softmax",
        [("dense", (8,)), ("dense", (4,)), ("concat", (12,)), ("dense", (10,))],
        136 + 68 + 130,
        marks=needs_layers("concat"),
        id="concat",
    ),
    pytest.param(
        "add",
        "dataset: synthetic\ninput: 16\n[dense 8 | dense 8 relu] add -> dense 10 softmax",
        [("dense", (8,)), ("dense", (8,)), ("add", (8,)), ("dense", (10,))],
        136 + 136 + 90,
        marks=needs_layers("add"),
        id="add",
    ),
]


def _rows(cases: list[Any]) -> list[Any]:
    """Table rows as pytest params: the first item of each row is its id."""
    out = []
    for c in cases:
        if hasattr(c, "marks"):  # already a pytest.param (with a skip mark)
            out.append(pytest.param(*c.values[1:], id=c.id, marks=c.marks))
        else:
            out.append(pytest.param(*c[1:], id=c[0]))
    return out


@pytest.mark.parametrize(("text", "layers", "total"), _rows(GOOD))
def test_good_program(
    text: str, layers: list[tuple[str, tuple[int, ...]]], total: int, registry: Any
) -> None:
    model = netdsl.check(text, registry)
    assert isinstance(model, CheckedModel)
    assert [(n.layer, tuple(n.output_shape)) for n in model.nodes] == layers
    assert model.total_params == total
    assert model.output_shape == (10,)
    assert [n.index for n in model.nodes] == list(range(len(model.nodes)))
    for n in model.nodes:
        assert all(i < n.index for i in n.inputs), "nodes are in topological order"
    json.dumps(model.to_dict())  # the checked model is plain JSON data too


def test_seed_model_in_detail(registry: Any) -> None:
    model = netdsl.check(netdsl.parse(SEED, "seed.net"), registry)
    assert model.input_shape == (28, 28, 1)
    flatten, hidden, out = model.nodes
    assert flatten.implicit and flatten.text == "flatten (implicit)" and flatten.params == 0
    assert (hidden.params, out.params) == (784 * 64 + 64, 64 * 10 + 10)
    assert hidden.kwargs["units"] == 64
    assert hidden.kwargs["activation"] == Ref("activation", "relu", ())
    assert hidden.kwargs["kernel_regularizer"].name == "l2"
    assert hidden.kwargs["use_bias"] is True
    assert hidden.text == "dense 64 relu l2" and hidden.span.column == 1
    assert out.inputs == (1,) and hidden.inputs == (0,) and flatten.inputs == ()
    data = model.to_dict()
    assert data["total_params"] == 50_890 and data["file"] == "seed.net"
    assert [layer["output_shape"] for layer in data["layers"]] == [[784], [64], [10]]


def test_seed_file_on_disk(registry: Any) -> None:
    from conftest import EXAMPLES

    model = netdsl.check((EXAMPLES / "mnist.net").read_bytes(), registry)
    assert model.total_params == 50_890


def test_settings_defaults(registry: Any) -> None:
    m = netdsl.check(SEED, registry)
    st = m.settings
    assert (st["epochs"], st["batch_size"], st["validation_split"], st["seed"]) == (
        10,
        32,
        0.0,
        None,
    )
    assert st["dataset"].name == "mnist" and st["optimizer"].name == "adam"
    assert [x.name for x in st["metrics"]] == ["accuracy"]
    assert st["loss"].name == "categorical_crossentropy" and m.labels == "categorical"
    assert m.data.target.num_classes == 10 and st["input"] == (28, 28, 1)
    assert st["loss"].kwargs.get("from_logits") in (False, None)


def test_settings_given(registry: Any) -> None:
    m = netdsl.check(
        "dataset: mnist\ninput: 28x28x1\nloss: sparse_categorical_crossentropy\n"
        "optimizer: sgd(learning_rate=0.1, momentum=0.9)\nmetrics: [accuracy, sparse_top_k_categorical_accuracy]\n"
        "epochs: 3\n"
        "batch_size: 128\nvalidation_split: 0.2\nseed: 7\n" + SEED,
        registry,
    )
    st = m.settings
    assert (st["epochs"], st["batch_size"], st["validation_split"], st["seed"]) == (3, 128, 0.2, 7)
    assert m.labels == "sparse" and st["loss"].name == "sparse_categorical_crossentropy"
    assert st["optimizer"].name == "sgd" and st["optimizer"].kwargs["learning_rate"] == 0.1
    assert st["optimizer"].kwargs["momentum"] == 0.9
    assert [x.name for x in st["metrics"]] == ["accuracy", "sparse_top_k_categorical_accuracy"]
    as_json = st.to_dict()
    assert as_json["epochs"] == 3 and as_json["optimizer"]["name"] == "sgd"


def test_metrics_may_be_one_name(registry: Any) -> None:
    assert [
        x.name for x in netdsl.check("metrics: auc\n" + SEED, registry).settings["metrics"]
    ] == ["auc"]


def test_logits_get_from_logits(registry: Any) -> None:
    m = netdsl.check("dense 64 relu -> dense 10", registry)
    assert m.settings["loss"].kwargs["from_logits"] is True


def test_check_takes_text_bytes_or_program(registry: Any) -> None:
    a = netdsl.check(SEED, registry)
    b = netdsl.check(SEED.encode(), registry)
    c = netdsl.check(netdsl.parse(SEED), registry)
    assert a.total_params == b.total_params == c.total_params == 50_890
    with pytest.raises(NetdslError) as info:
        netdsl.check("dense 64 relu6x", registry, filename="f.net")
    assert info.value.span.file == "f.net"


def test_default_registry_is_used_when_none_given() -> None:
    assert netdsl.check(SEED).total_params == 50_890


def test_model_replace_validates(registry: Any) -> None:
    m = netdsl.check(SEED, registry)
    assert m.replace(epochs=2).settings["epochs"] == 2
    for bad in (
        {"epochs": 0},
        {"seed": 2**32},
        {"batch_size": 10**20},
        {"epochs": "x"},
        {"no_such": 1},
    ):
        with pytest.raises(NetdslError):
            m.replace(**bad)


# --- bad programs -------------------------------------------------------------------------------------

# id, text, codes of every error reported (in source order)
BAD: list[Any] = [
    ("unknown-activation", "dense 64 relu6x -> dense 10 softmax", ["NDL003"]),
    ("missing-units", "dense -> dense 10 softmax", ["NDL007"]),
    ("activation-twice", "dense 64 relu relu -> dense 10 softmax", ["NDL006"]),
    ("param-twice", "dense 64 relu units=3 -> dense 10 softmax", ["NDL006"]),
    ("too-many-values", "dense 64 32 -> dense 10 softmax", ["NDL006"]),
    ("wrong-type", "dense 1.5 -> dense 10 softmax", ["NDL005"]),
    ("wrong-type-string", 'dropout "half" -> dense 10 softmax', ["NDL005"]),
    ("out-of-range", "dense 64 -> dropout 1.5 -> dense 10 softmax", ["NDL005"]),
    ("zero-units", "dense 0 -> dense 10 softmax", ["NDL005"]),
    ("bad-bool", "dense 10 softmax use_bias=1", ["NDL005"]),
    ("bad-choice", "dense 10 softmax kernel_initializer=zero", ["NDL005"]),
    ("unknown-kwarg", "dense 64 relu unitz=3 -> dense 10 softmax", ["NDL007"]),
    ("kwarg-on-flatten", "flatten x=1 -> dense 10 softmax", ["NDL007"]),
    ("positional-on-flatten", "flatten 3 -> dense 10 softmax", ["NDL005"]),
    ("unknown-layer", "dens 10 softmax", ["NDL003"]),
    ("activation-as-layer", "softmax", ["NDL003"]),
    ("regularizer-bad-arg", "dense 64 l2(-1) -> dense 10 softmax", ["NDL005"]),
    ("regularizer-unknown-kwarg", "dense 64 l2(x=1) -> dense 10 softmax", ["NDL007"]),
    ("unknown-setting", "epochz: 10\n" + SEED, ["NDL004"]),
    ("duplicate-setting", "epochs: 1\nepochs: 2\n" + SEED, ["NDL004"]),
    ("setting-type", 'epochs: "ten"\n' + SEED, ["NDL005"]),
    ("setting-range", "batch_size: 0\n" + SEED, ["NDL005"]),
    ("setting-split-range", "validation_split: 1.0\n" + SEED, ["NDL005"]),
    ("setting-seed-negative", "seed: -1\n" + SEED, ["NDL005"]),
    ("setting-input-zero", "input: 0x3\n" + SEED, ["NDL005"]),
    ("unknown-dataset", "dataset: cifar\n" + SEED, ["NDL003"]),
    ("unknown-optimizer", "optimizer: adamm\n" + SEED, ["NDL003"]),
    ("optimizer-of-wrong-kind", "optimizer: relu\n" + SEED, ["NDL003"]),
    ("optimizer-bad-arg", "optimizer: adam(learning_rate=-1)\n" + SEED, ["NDL005"]),
    ("unknown-metric", "metrics: [accuracy, aucc]\n" + SEED, ["NDL003"]),
    ("unknown-loss", "loss: crossentropy\n" + SEED, ["NDL003"]),
    ("class-count", "dense 64 relu -> dense 12 softmax", ["NDL013"]),
    ("reshape-mismatch", "reshape 5x5 -> dense 10 softmax", ["NDL008"]),
    (
        "batchnorm-axis",
        "dataset: synthetic\ninput: 10\nbatchnorm axis=5 -> dense 10 softmax",
        ["NDL008"],
    ),
    ("dense-on-2d", "input: 28x28\ndense 10 softmax", ["NDL008"]),
    ("repeat-zero", "(dense 10) * 0 -> dense 10 softmax", ["NDL005"]),
    ("no-network", "epochs: 3\n", ["NDL010"]),
    ("empty", "", ["NDL010"]),
    ("block-twice", "block b = dense 3\nblock b = dense 4\nb -> dense 10 softmax", ["NDL011"]),
    ("block-named-like-layer", "block dense = flatten\ndense 10 softmax", ["NDL011"]),
    ("block-duplicate-param", "block b(x, x) = dense x\nb(1, 2) -> dense 10 softmax", ["NDL011"]),
    ("block-recursive", "block b = dense 3 -> b\nb -> dense 10 softmax", ["NDL011"]),
    ("block-mutual-recursion", "block a = b\nblock b = a\na -> dense 10 softmax", ["NDL011"]),
    ("block-too-many-args", "block b(n) = dense n\nb(1, 2) -> dense 10 softmax", ["NDL005"]),
    ("block-missing-arg", "block b(n) = dense n\nb -> dense 10 softmax", ["NDL007"]),
    ("block-unknown-kwarg", "block b(n) = dense n\nb(3, m=1) -> dense 10 softmax", ["NDL007"]),
    ("block-arg-twice", "block b(n) = dense n\nb(3, n=3) -> dense 10 softmax", ["NDL006"]),
    (
        "block-error-two-uses",
        "block b(n) = dense n relu6x\nb(3) -> b(4) -> dense 10 softmax",
        ["NDL003"],
    ),
    (
        "block-bad-value-per-use",
        "block b(p) = dropout p\nb(1.5) -> b(2.5) -> dense 10 softmax",
        ["NDL005", "NDL005"],
    ),
    ("values-not-layers", "dense(64, relu -> relu) -> dense 10 softmax", ["NDL005"]),
    ("layer-count-limit", "(dense 1) * 1000000 -> dense 10 softmax", ["NDL012"]),
    (
        "exponential-blocks",
        "block a0 = dense 1 -> dense 1\n"
        + "".join(f"block a{i} = a{i - 1} -> a{i - 1}\n" for i in range(1, 30))
        + "a29 -> dense 10 softmax",
        ["NDL012"],
    ),
    (
        "nested-block-depth",
        "block a0(x) = dense 10 x\n"
        + "".join(
            f"block a{i}(x) = " + "(" * 40 + f"a{i - 1}(x)" + ")" * 40 + "\n" for i in range(1, 11)
        )
        + "a10(relu) -> dense 10 softmax",
        ["NDL012"],
    ),
    (
        "three-independent",
        "epochz: 1\ndense 64 relu6x -> dropout 1.5 -> dense 10 softmax",
        ["NDL004", "NDL003", "NDL005"],
    ),
    (
        "many-in-one-layer",
        "dense 0 relu6x unitz=1 -> dense 10 softmax",
        ["NDL005", "NDL003", "NDL007"],
    ),
    (
        "errors-across-settings-and-blocks",
        "epochs: 0\nbatch_size: x\nblock b(n) = dense n reluu\nb(4) -> dens 10",
        ["NDL005", "NDL005", "NDL003", "NDL003"],
    ),
    pytest.param(
        "dense-on-sequence",
        "input: 28x28\nlstm 32 return_sequences=true -> dense 10 softmax",
        ["NDL008"],
        marks=needs_layers("lstm"),
        id="dense-on-sequence",
    ),
    pytest.param(
        "unknown-merge",
        "[dense 3 | dense 4] concatt -> dense 10 softmax",
        ["NDL003"],
        marks=needs_layers("concat"),
        id="unknown-merge",
    ),
    pytest.param(
        "merge-alone",
        "add -> dense 10 softmax",
        ["NDL008"],
        marks=needs_layers("add"),
        id="merge-alone",
    ),
    pytest.param(
        "add-mismatch",
        "dataset: synthetic\ninput: 16\n[dense 8 | dense 4] add -> dense 10 softmax",
        ["NDL008"],
        marks=needs_layers("add"),
        id="add-mismatch",
    ),
    pytest.param(
        "unknown-option",
        "conv2d 32 3 samee -> flatten -> dense 10 softmax",
        ["NDL003"],
        marks=needs_layers("conv2d"),
        id="unknown-option",
    ),
]


@pytest.mark.parametrize(("text", "codes"), _rows(BAD))
def test_bad_program(text: str, codes: list[str], registry: Any) -> None:
    with pytest.raises(NetdslError) as info:
        netdsl.check(netdsl.parse(text, "bad.net"), registry)
    err = info.value
    assert [e.code for e in err.errors] == codes, [e.message for e in err.errors]
    starts = [e.span.start for e in err.errors]
    assert starts == sorted(starts), "errors come in source order"
    for e in err.errors:
        assert e.span is not None and e.span.file == "bad.net"
        assert e.source is not None, "every error carries its source, so it renders alone"
        assert netdsl.render(e)
    if len(codes) > 1:
        assert isinstance(err, NetdslErrors)
    else:
        assert not isinstance(err, NetdslErrors)


def test_all_errors_in_one_pass(registry: Any) -> None:
    text = "epochz: 1\nbatch_size: 0\ndense 64 relu6x -> dropout 1.5 -> dens 10 softmax -> dense 64 qq=1\n"
    with pytest.raises(NetdslErrors) as info:
        netdsl.check(text, registry)
    assert [(e.code, e.span.line, e.span.column) for e in info.value.errors] == [
        ("NDL004", 1, 1),
        ("NDL005", 2, 13),
        ("NDL003", 3, 10),
        ("NDL005", 3, 28),
        ("NDL003", 3, 35),
        ("NDL007", 3, 63),
    ]


def test_an_error_in_a_block_is_reported_once_with_every_use(registry: Any) -> None:
    with pytest.raises(NetdslError) as info:
        netdsl.check("block b(n) = dense n relu6x\nb(3) -> b(4) -> dense 10 softmax", registry)
    (err,) = info.value.errors
    assert err.span.line == 1
    assert [(n.span.line, n.span.column, n.label) for n in err.notes] == [
        (2, 1, "in this use of `b`"),
        (2, 9, "in this use of `b`"),
    ]


def test_an_error_that_depends_on_the_use_is_reported_per_use(registry: Any) -> None:
    with pytest.raises(NetdslErrors) as info:
        netdsl.check("block b(p) = dropout p\nb(1.5) -> b(2.5) -> dense 10 softmax", registry)
    first, second = info.value.errors
    assert (first.span.line, first.span.column) == (2, 3)
    assert (second.span.line, second.span.column) == (2, 13)


def test_repeated_mistake_reported_once(registry: Any) -> None:
    with pytest.raises(NetdslError) as info:
        netdsl.check("(dense 64 relu6x) * 5 -> dense 10 softmax", registry)
    assert len(info.value.errors) == 1


# a positional value nothing positional takes: the help names the open parameters that take it
POSITIONAL_HELP = [
    (
        "synthetic-classes",
        "dataset: synthetic(10)\ninput: 4\ndense 10 softmax",
        "name the parameter: `classes=10`, or one of `outputs`, `train_size`, `test_size`, `seed`",
    ),
    (
        "synthetic-after-given",
        "dataset: synthetic(classes=3, 10)\ninput: 4\ndense 3 softmax",
        "name the parameter: `outputs=10`, or one of `train_size`, `test_size`, `seed`",
    ),
    (
        "float-only-one",
        "dataset: synthetic\ninput: 4\nlayernorm 0.01 -> dense 10 softmax",
        "name the parameter: `epsilon=0.01`",
    ),
    ("nothing-takes-it", "dense 10 softmax 1.5", None),
]


@pytest.mark.parametrize(("text", "help_"), _rows(POSITIONAL_HELP))
def test_positional_help_names_a_real_parameter(
    text: str, help_: str | None, registry: Any
) -> None:
    with pytest.raises(NetdslError) as info:
        netdsl.check(text, registry)
    (err,) = [e for e in info.value.errors if e.code == "NDL005"]
    assert err.help == help_
    assert "key=" not in (err.help or "")


def test_a_name_that_binds_two_ways_is_ambiguous() -> None:
    reg = load_registry(third_party=False)
    reg.add(Regularizer(name="relu", build=None), Provider("test", "0", "test"))
    with pytest.raises(NetdslError) as info:
        netdsl.check("dense 64 relu -> dense 10 softmax", reg)
    (err,) = info.value.errors
    assert err.code == "NDL006" and "`activation` or `kernel_regularizer`" in err.message
    assert (err.span.column, err.span.end_column) == (10, 14)
    assert err.help == "say which: `activation=relu`"
    # saying which fixes it
    assert netdsl.check("dense 64 activation=relu -> dense 10 softmax", reg).total_params == 50_890


def test_layer_limit_is_reported_where_it_is_passed(registry: Any) -> None:
    with pytest.raises(NetdslError) as info:
        netdsl.check(f"(dense 1) * {MAX_LAYERS + 5} -> dense 10 softmax", registry)
    (err,) = info.value.errors
    assert err.code == "NDL012" and f"{MAX_LAYERS:,}" in err.message
    assert err.span.column == 13  # the repeat count


def test_a_huge_repeat_count_does_not_hang(registry: Any) -> None:
    with pytest.raises(NetdslError):
        netdsl.check("(dense 1) * 99999999999999999999", registry)


def test_recursion_safety_net(registry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Any, *a: Any) -> Any:
        raise RecursionError

    from netdsl.checking.walk import Walk

    monkeypatch.setattr(Walk, "chain", boom)
    with pytest.raises(NetdslError) as info:
        netdsl.check(SEED, registry)
    assert info.value.code == "NDL012" and info.value.source == SEED


@pytest.mark.skipif(not has_layers("lstm"), reason="needs lstm")
def test_sequence_into_dense_help(registry: Any) -> None:
    with pytest.raises(NetdslError) as info:
        netdsl.check("input: 28x28\nlstm 32 return_sequences=true -> dense 10 softmax", registry)
    assert "return_sequences=false" in (info.value.help or "")
