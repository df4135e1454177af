"""The advanced built-in layers against Keras: shapes, parameter counts, refusals, whole models.

netdsl infers every output shape and parameter count in pure Python; here each rule is
compared with what Keras really builds, layer by layer (a table of argument combinations)
and model by model (the checker's nodes against the compiled ``keras.Model``). Configurations
netdsl refuses must be ones Keras refuses too, reported at the offending layer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import netdsl
from netdsl.checking.bind import Binder
from netdsl.checking.checker import CheckedModel
from netdsl.errors import NetdslError
from netdsl.lang import ir
from netdsl.vocab.components import Layer, Ref, ShapeProblem
from netdsl.vocab.registry import load_registry
from netdsl_builtins import (
    conv,
    embedding,
    merge,
    noise,
    normalization,
    pooling,
    recurrent,
    wrappers,
)

pytestmark = pytest.mark.slow  # builds or trains real Keras models

REG = load_registry(third_party=False)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
Shape = tuple
#: the layer-family plugin modules (one per family; each layer's parts together)
FAMILIES = (conv, pooling, normalization, embedding, recurrent, wrappers, noise, merge)


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    """Keras on TensorFlow, quietly (the Keras tests skip where it is not installed)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return pytest.importorskip("keras")


# --- helpers ------------------------------------------------------------------------------------


def _dims(shape: Sequence[Any]) -> str:
    return "x".join(map(str, shape))


def _step(text: str) -> ir.Layer:
    """The one layer a text such as ``conv2d 32 3 relu`` describes."""
    network = netdsl.parse(text).network
    assert network is not None and len(network.steps) == 1
    step = network.steps[0]
    assert isinstance(step, ir.Layer)
    return step


def _bind(step: ir.Layer) -> tuple[Layer, dict[str, Any]]:
    """A layer's declaration and its arguments bound by the real binder (defaults filled)."""
    component = REG.get("layer", step.name)
    assert isinstance(component, Layer), step.name
    binder = Binder(REG)
    bound = binder.bind(component, step.args, step.span)
    assert bound is not None and not binder.errors, [e.message for e in binder.errors]
    return component, bound


def _keras_value(value: Any) -> Any:
    """A bound value as Keras takes it (references such as ``l2`` built through the registry)."""
    if isinstance(value, Ref):
        component = REG.get(value.kind, value.name)
        assert component is not None and component.build is not None
        return component.build(**{k: _keras_value(v) for k, v in value.args})
    return value


def _build(component: Layer, bound: dict[str, Any], **extra: Any) -> Any:
    """The Keras layer a declaration builds from bound arguments."""
    assert component.build is not None
    return component.build(**{k: _keras_value(v) for k, v in bound.items()}, **extra)


def _prepare(text: str) -> tuple[Layer, dict[str, Any], dict[str, Any], Any]:
    """Declaration, bound args, extra infer kwargs and a Keras-layer factory for one layer text."""
    step = _step(text)
    component, bound = _bind(step)
    if component.wrapper != "layer":
        return component, bound, {}, lambda: _build(component, bound)
    inner_c, inner_bound = _bind(step.body[0].steps[0])  # type: ignore[arg-type]

    def inner(shape: Shape) -> tuple[Shape, int]:
        return inner_c.infer(shape, inner_bound)

    return (
        component,
        bound,
        {"inner": inner, "inner_layer": inner_c},
        lambda: _build(component, bound, layer=_build(inner_c, inner_bound)),
    )


def _keras_pairs(net: Any) -> Counter:
    """(output shape, parameter count) of every layer of a Keras model but its input."""
    return Counter(
        (tuple(layer.output.shape[1:]), layer.count_params())
        for layer in net.layers
        if type(layer).__name__ != "InputLayer"
    )


def _node_pairs(model: CheckedModel) -> Counter:
    return Counter((tuple(n.output_shape), n.params) for n in model.nodes)


def _check_against_keras(keras: ModuleType, model: CheckedModel, *, compile: bool = False) -> Any:
    """Build a checked model and assert every layer, the total and the output agree with Keras."""
    net = netdsl.build(model, compile=compile)
    assert _node_pairs(model) == _keras_pairs(net)
    assert model.total_params == net.count_params()
    assert tuple(model.output_shape) == tuple(net.output.shape[1:])
    return net


# --- one layer at a time ------------------------------------------------------------------------

#: (layer text, input shape): each inferred shape and parameter count must equal Keras's
LAYER_CASES: list[tuple[str, Shape]] = [
    # conv2d: kernel sizes, strides, padding, dilation, bias, positional forms
    ("conv2d 32 3 relu", (28, 28, 1)),
    ("conv2d 64 3x3 relu same", (28, 28, 3)),
    ("conv2d 8 5x3 strides=2", (28, 28, 3)),
    ("conv2d 8 3 strides=(2, 3) same", (17, 23, 2)),
    ("conv2d 8 4 strides=3", (17, 17, 2)),
    ("conv2d 4 7 same strides=4", (9, 9, 1)),
    ("conv2d 6 9", (9, 9, 1)),
    ("conv2d 8 3 dilation_rate=2", (16, 16, 3)),
    ("conv2d 8 3 dilation_rate=(2, 3) same", (15, 15, 3)),
    ("conv2d 8 3 use_bias=false", (10, 10, 4)),
    ("conv2d 8 1", (10, 10, 4)),
    ("conv2d 32 3 relu l2", (12, 12, 3)),
    ("conv2d 16 3 kernel_initializer=he_normal padding=same", (12, 12, 3)),
    # conv1d: causal padding too
    ("conv1d 16 5 relu", (28, 28)),
    ("conv1d 16 5 causal", (20, 3)),
    ("conv1d 8 3 causal dilation_rate=4", (20, 3)),
    ("conv1d 8 4 strides=3 same", (20, 3)),
    ("conv1d 8 3 strides=2", (21, 3)),
    ("conv1d 8 3 use_bias=false dilation_rate=2", (21, 3)),
    # separable and depthwise: depth_multiplier
    ("separable_conv2d 16 3", (12, 12, 3)),
    ("separable_conv2d 16 3 same depth_multiplier=2", (12, 12, 3)),
    ("separable_conv2d 8 3 strides=2 use_bias=false", (13, 13, 5)),
    ("separable_conv2d 8 3 dilation_rate=2 relu", (13, 13, 5)),
    ("separable_conv2d 8 3 strides=2 dilation_rate=2", (16, 16, 3)),
    ("depthwise_conv2d 3", (12, 12, 3)),
    ("depthwise_conv2d 3 same depth_multiplier=4", (12, 12, 3)),
    ("depthwise_conv2d 5x3 strides=2 use_bias=false", (15, 14, 2)),
    ("depthwise_conv2d 3 dilation_rate=3 l2", (15, 14, 2)),
    # conv2d_transpose: valid/same, strides below and above the kernel, output_padding
    ("conv2d_transpose 16 3", (7, 7, 8)),
    ("conv2d_transpose 16 3 strides=2 same", (7, 7, 8)),
    ("conv2d_transpose 16 3 strides=2", (7, 7, 8)),
    ("conv2d_transpose 8 2 strides=3", (5, 5, 2)),
    ("conv2d_transpose 8 4 strides=2 same", (5, 6, 2)),
    ("conv2d_transpose 8 3 strides=2 output_padding=1", (5, 5, 2)),
    ("conv2d_transpose 8 4 strides=2 same output_padding=1", (5, 5, 2)),
    ("conv2d_transpose 8 3 strides=(3, 2) output_padding=(2, 0) same", (5, 4, 2)),
    ("conv2d_transpose 8 3 dilation_rate=2 use_bias=false", (5, 5, 2)),
    # pooling: sizes, strides (default = pool_size), padding, floors
    ("maxpool 2", (28, 28, 1)),
    ("maxpool 3", (28, 28, 1)),
    ("maxpool 3 strides=1 same", (28, 28, 4)),
    ("maxpool 2 same", (7, 7, 3)),
    ("maxpool 3x2 strides=(1, 2)", (9, 9, 3)),
    ("maxpool2d", (9, 9, 3)),
    ("avgpool 2", (28, 28, 1)),
    ("avgpool 3 strides=2 same", (9, 9, 2)),
    ("avgpool2d 2x3", (8, 9, 2)),
    ("maxpool1d", (10, 4)),
    ("maxpool1d 3 strides=2", (10, 4)),
    ("maxpool1d 4 same", (10, 4)),
    ("avgpool1d 2", (11, 4)),
    ("avgpool1d 3 strides=1 same", (11, 4)),
    ("global_avgpool", (7, 7, 16)),
    ("global_avgpool2d keepdims=true", (7, 7, 16)),
    ("global_maxpool", (5, 3, 8)),
    ("global_maxpool2d keepdims=true", (5, 3, 8)),
    ("global_avgpool1d", (10, 8)),
    ("global_maxpool1d keepdims=true", (10, 8)),
    # resizing
    ("upsample2d 2", (7, 7, 3)),
    ("upsample2d 2x3 bilinear", (7, 5, 3)),
    ("upsample2d", (4, 4, 1)),
    ("zeropad2d 1", (28, 28, 1)),
    ("zeropad2d 2x3", (5, 5, 2)),
    ("zeropad2d (0, 2)", (5, 5, 2)),
    # normalisation, noise, dropout
    ("layernorm", (10,)),
    ("layernorm", (12, 8)),
    ("layernorm", (4, 4, 3)),
    ("layernorm center=false", (6, 5)),
    ("layernorm axis=1", (6, 5)),
    ("layernorm axis=-2 scale=false", (6, 5, 2)),
    ("gaussian_noise 0.1", (28, 28, 1)),
    ("spatial_dropout2d 0.2", (8, 8, 3)),
    # embedding
    ("embedding 10000 64", (100,)),
    ("embedding 50 8 mask_zero=true", (12,)),
    # recurrent: units, bias, return_sequences, GRU's reset_after
    ("simple_rnn 32", (28, 28)),
    ("simple_rnn 16 relu return_sequences=true", (10, 3)),
    ("simple_rnn 8 use_bias=false", (10, 3)),
    ("lstm 128 return_sequences=true", (28, 28)),
    ("lstm 64", (28, 28)),
    ("lstm 16 use_bias=false", (5, 7)),
    ("lstm 8 go_backwards=true dropout=0.2", (5, 7)),
    ("lstm 8 unit_forget_bias=false l2", (5, 7)),
    ("gru 64", (28, 28)),
    ("gru 32 return_sequences=true", (10, 5)),
    ("gru 16 reset_after=false", (10, 5)),
    ("gru 16 use_bias=false", (10, 5)),
    ("gru 16 reset_after=false use_bias=false", (10, 5)),
    # wrappers: every merge mode, sequences or not
    ("bidirectional(lstm 32)", (28, 28)),
    ("bidirectional(lstm 16 return_sequences=true) sum", (10, 4)),
    ("bidirectional(gru 8) mul", (10, 4)),
    ("bidirectional(simple_rnn 8 return_sequences=true) ave", (10, 4)),
    ("bidirectional(gru 8 reset_after=false) merge_mode=concat", (10, 4)),
    ("timedistributed(dense 8)", (10, 4)),
    ("timedistributed(dense 8 relu use_bias=false)", (10, 4)),
    ("timedistributed(conv1d 4 3)", (5, 10, 2)),
]


@pytest.mark.parametrize(
    ("text", "shape"), LAYER_CASES, ids=[f"{t} @ {_dims(s)}" for t, s in LAYER_CASES]
)
def test_layer_matches_keras(keras: ModuleType, text: str, shape: Shape) -> None:
    component, bound, extra, make = _prepare(text)
    out, params = component.infer(shape, bound, **extra)
    layer = make()
    y = layer(keras.Input(shape))
    assert tuple(out) == tuple(y.shape[1:])
    assert params == layer.count_params()


#: (merge text, input shapes): merge layers and residual get one shape per branch
MERGE_CASES: list[tuple[str, list[Shape]]] = [
    ("add", [(8, 8, 4), (8, 8, 4)]),
    ("add", [(16,), (16,), (16,)]),
    ("subtract", [(5, 3), (5, 3)]),
    ("multiply", [(4, 4, 2)] * 3),
    ("multiply", [(4, 4, 2), (1, 1, 2)]),
    ("multiply", [(1, 4, 2), (4, 1, 2)]),
    ("average", [(6,), (6,)]),
    ("maximum", [(3, 7), (3, 7)]),
    ("minimum", [(2, 2, 2)] * 4),
    ("concat", [(8, 8, 4), (8, 8, 6)]),
    ("concatenate", [(10,), (5,), (1,)]),
    ("concat axis=1", [(3, 4), (5, 4)]),
    ("concat axis=2", [(3, 4), (3, 2)]),
    ("concat axis=-2", [(4, 4, 2), (4, 6, 2)]),
    ("concat axis=1", [(2, 4, 4), (3, 4, 4)]),
    ("residual", [(8, 8, 4), (8, 8, 4)]),
]


@pytest.mark.parametrize(
    ("text", "shapes"),
    MERGE_CASES,
    ids=[f"{t} @ {', '.join(map(_dims, s))}" for t, s in MERGE_CASES],
)
def test_merge_matches_keras(keras: ModuleType, text: str, shapes: list[Shape]) -> None:
    component, bound, _, make = _prepare(text)
    out, params = component.infer(shapes, bound)
    layer = make()
    y = layer([keras.Input(s) for s in shapes])
    assert tuple(out) == tuple(y.shape[1:])
    assert params == layer.count_params() == 0


#: (layer text, input shape or branch shapes, the parameter blamed): netdsl and Keras both refuse
REFUSED: list[tuple[str, Any, str | None]] = [
    ("conv2d 8 5", (4, 4, 1), "kernel_size"),
    ("conv2d 8 3 dilation_rate=3", (6, 6, 1), "dilation_rate"),
    ("conv2d 8 3 strides=2 dilation_rate=2", (16, 16, 1), "dilation_rate"),
    ("conv2d_transpose 8 3 strides=2 dilation_rate=2", (6, 6, 1), "dilation_rate"),
    ("conv1d 8 7", (5, 3), "kernel_size"),
    ("separable_conv2d 8 3x9", (12, 8, 1), "kernel_size"),
    ("depthwise_conv2d 4", (3, 9, 2), "kernel_size"),
    ("maxpool 3", (2, 2, 1), "pool_size"),
    ("avgpool 2x4", (8, 3, 1), "pool_size"),
    ("maxpool1d 4", (3, 2), "pool_size"),
    ("conv2d_transpose 8 3 strides=2 output_padding=2", (4, 4, 1), "output_padding"),
    ("layernorm axis=0", (4,), "axis"),
    ("layernorm axis=3", (4, 5), "axis"),
    ("concat", [(8, 8, 4), (7, 7, 4)], None),
    ("concat", [(8, 4), (8,)], None),
    ("add", [(4,), (5,)], None),
    ("multiply", [(4, 4, 2), (4, 4, 3)], None),
    ("subtract", [(4,), (4,), (4,)], None),
    ("residual", [(8, 8, 4), (8, 8, 2)], None),
]


@pytest.mark.parametrize(
    ("text", "shape", "param"),
    REFUSED,
    ids=[f"{t} @ {s if isinstance(s, list) else _dims(s)}" for t, s, _ in REFUSED],
)
def test_refused_by_netdsl_and_keras(
    keras: ModuleType, text: str, shape: Any, param: str | None
) -> None:
    component, bound, extra, make = _prepare(text)
    with pytest.raises(ShapeProblem) as problem:
        component.infer(shape, bound, **extra)
    assert problem.value.param == param
    assert problem.value.message and problem.value.help
    with pytest.raises((ValueError, TypeError, IndexError)):
        layer = make()
        layer([keras.Input(s) for s in shape] if isinstance(shape, list) else keras.Input(shape))


def test_concat_along_the_batch_axis_is_refused() -> None:
    # Keras accepts it symbolically, but the result has twice the batch: never what is meant
    concat, bound = _bind(_step("concat axis=0"))
    with pytest.raises(ShapeProblem, match="axis 0") as problem:
        concat.infer([(3,), (3,)], bound)
    assert problem.value.param == "axis" and problem.value.help


def test_unknown_sizes_stay_unknown() -> None:
    conv, bound = _bind(_step("conv2d 8 3 strides=2"))
    assert conv.infer((None, 9, 1), bound) == ((None, 4, 8), 80)
    lstm, bound = _bind(_step("lstm 4 return_sequences=true"))
    assert lstm.infer((None, 3), bound) == ((None, 4), 4 * 4 * (3 + 4 + 1))
    concat, bound = _bind(_step("concat axis=1"))
    assert concat.infer([(None, 2), (3, 2)], bound) == ((None, 2), 0)
    with pytest.raises(ShapeProblem, match="known size"):
        conv.infer((9, 9, None), bound)


# --- declarations -------------------------------------------------------------------------------

NAMES = {
    "conv1d": "sequence",
    "conv2d": "image",
    "separable_conv2d": "image",
    "depthwise_conv2d": "image",
    "conv2d_transpose": "image",
    "maxpool1d": "sequence",
    "maxpool2d": "image",
    "avgpool1d": "sequence",
    "avgpool2d": "image",
    "global_avgpool1d": "sequence",
    "global_avgpool2d": "image",
    "global_maxpool1d": "sequence",
    "global_maxpool2d": "image",
    "upsample2d": "image",
    "zeropad2d": "image",
    "layernorm": "any",
    "embedding": "vector",
    "simple_rnn": "sequence",
    "lstm": "sequence",
    "gru": "sequence",
    "bidirectional": "sequence",
    "timedistributed": "any",
    "gaussian_noise": "any",
    "spatial_dropout2d": "image",
    "residual": "any",
    "add": "any",
    "subtract": "any",
    "multiply": "any",
    "average": "any",
    "maximum": "any",
    "minimum": "any",
    "concat": "any",
}


def test_every_advanced_layer_is_registered_with_its_input_kind() -> None:
    plugins = {family.__name__ for family in FAMILIES}
    entries = {e.component.name: e for e in REG.entries("layer") if e.provider.plugin in plugins}
    assert set(entries) == set(NAMES)
    assert sum(len(family.LAYERS) for family in FAMILIES) == len(NAMES)
    for name, accepts in NAMES.items():
        component = entries[name].component
        assert isinstance(component, Layer) and component.accepts == accepts, name
        assert component.description and "\n" not in component.description, name
    merges = {n for n, e in entries.items() if e.component.merge}  # type: ignore[attr-defined]
    assert merges == {"add", "subtract", "multiply", "average", "maximum", "minimum", "concat"}
    assert REG.get("layer", "residual").wrapper == "chain"  # type: ignore[union-attr]
    assert REG.get("layer", "bidirectional").wrapper == "layer"  # type: ignore[union-attr]


def test_aliases() -> None:
    for alias, name in [
        ("maxpool", "maxpool2d"),
        ("avgpool", "avgpool2d"),
        ("global_avgpool", "global_avgpool2d"),
        ("global_maxpool", "global_maxpool2d"),
        ("concatenate", "concat"),
    ]:
        component = REG.get("layer", alias)
        assert component is not None and component.name == name, alias


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "conv2d 32 3 relu",
            {"filters": 32, "kernel_size": (3, 3), "padding": "valid", "strides": (1, 1)},
        ),
        ("conv2d 64 3x3 relu same", {"filters": 64, "kernel_size": (3, 3), "padding": "same"}),
        ("conv2d 32 3 relu l2", {"kernel_regularizer": "l2"}),
        ("conv1d 16 5 relu causal", {"filters": 16, "kernel_size": (5,), "padding": "causal"}),
        ("maxpool 2", {"pool_size": (2, 2), "strides": None, "padding": "valid"}),
        ("maxpool 3 strides=1 same", {"pool_size": (3, 3), "strides": (1, 1), "padding": "same"}),
        (
            "lstm 128 return_sequences=true",
            {"units": 128, "return_sequences": True, "activation": "tanh"},
        ),
        ("gru 64 relu", {"units": 64, "activation": "relu", "reset_after": True}),
        ("embedding 10000 64", {"input_dim": 10000, "output_dim": 64}),
        ("spatial_dropout2d 0.2", {"rate": 0.2}),
        ("gaussian_noise 0.1", {"stddev": 0.1}),
        ("upsample2d 2", {"size": (2, 2), "interpolation": "nearest"}),
        ("zeropad2d 1", {"padding": (1, 1)}),
        ("bidirectional(lstm 8) sum", {"merge_mode": "sum"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_natural_positional_forms(text: str, expected: dict[str, Any]) -> None:
    _, bound = _bind(_step(text))
    got = {k: bound[k].name if isinstance(bound[k], Ref) else bound[k] for k in expected}
    assert got == expected


def test_importing_and_registering_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from netdsl_builtins import (conv, embedding, merge, noise, normalization, pooling,\n"
        "                             recurrent, wrappers)\n"
        "out = []\n"
        "for family in (conv, pooling, normalization, embedding, recurrent, wrappers, noise, merge):\n"
        "    family.register_layers(register=out.append)\n"
        "assert len(out) == 32, len(out)\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# --- the checker: refusals point at the offending layer -----------------------------------------

#: (program, the text the first error's span must start at — the argument to blame when there
#: is one, else the layer — and words in its message)
CHECK_ERRORS: list[tuple[str, str, str]] = [
    (
        "dataset: synthetic\ninput: 4x4x1\nconv2d 8 5 -> flatten -> dense 10 softmax",
        "5 -> flatten",
        "larger than the input 4x4",
    ),
    (
        "conv2d 32 3 relu -> maxpool 2 -> conv2d 64 3 relu -> maxpool 2 -> conv2d 64 7 -> flatten "
        "-> dense 10 softmax",
        "7 -> flatten",
        "kernel 7x7 is larger than the input 5x5",
    ),
    (
        "maxpool 2 -> maxpool 2 -> maxpool 2 -> maxpool 2 -> maxpool 2 -> flatten -> dense 10 softmax",
        "2 -> flatten",
        "pool 2x2 is larger than the input 1x1",
    ),
    (
        "conv2d 8 3 strides=2 dilation_rate=2 -> flatten -> dense 10 softmax",
        "dilation_rate=2",
        "cannot be combined",
    ),
    ("dense 64 -> conv2d 32 3 -> flatten -> dense 10 softmax", "conv2d", "needs an image"),
    ("conv2d 8 3 causal -> flatten -> dense 10 softmax", "causal", "causal"),
    (
        "[conv2d 8 3 | conv2d 8 3 same] concat -> flatten -> dense 10 softmax",
        "concat",
        "26x26x8, 28x28x8",
    ),
    ("[dense 8 | dense 4] add -> dense 10 softmax", "add", "different shapes: 8, 4"),
    ("[dense 8 | dense 8 | dense 8] subtract -> dense 10 softmax", "subtract", "exactly 2"),
    (
        "conv2d 16 3 same -> residual(conv2d 8 3 same) -> flatten -> dense 10 softmax",
        "residual",
        "changes the shape from 28x28x16 to 28x28x8",
    ),
    ("lstm 32 -> lstm 32 -> dense 10 softmax", "lstm 32 -> dense", "needs a sequence"),
    ("gru 16 -> global_avgpool1d -> dense 10 softmax", "global_avgpool1d", "needs a sequence"),
    ("dataset: synthetic\ninput: 28x28x3\nlstm 32 -> dense 10 softmax", "lstm", "needs a sequence"),
    (
        "timedistributed(conv2d 4 3) -> flatten -> dense 10 softmax",
        "timedistributed",
        "expected an image",
    ),
    (
        "bidirectional(lstm 8) -> bidirectional(lstm 8) -> dense 10 softmax",
        "bidirectional(lstm 8) -> dense",
        "needs a sequence",
    ),
    (
        "conv2d 8 3 -> global_avgpool -> dense 10 softmax -> embedding 10 4",
        "embedding",
        "`embedding` reads integer ids, but `dense` before it outputs real values",
    ),
    ("dataset: synthetic\ninput: 20\nembedding 10 4", "embedding", "one score per class"),
]


def _position(source: str, marker: str) -> tuple[int, int]:
    """(line, column), 1-based, where ``marker`` last starts in ``source``."""
    at = source.rindex(marker)
    line = source.count("\n", 0, at) + 1
    return line, at - (source.rfind("\n", 0, at) + 1) + 1


@pytest.mark.parametrize(
    ("source", "marker", "words"),
    CHECK_ERRORS,
    ids=[s.replace("\n", "; ") for s, _, _ in CHECK_ERRORS],
)
def test_checker_refuses_at_the_offending_layer(source: str, marker: str, words: str) -> None:
    with pytest.raises(NetdslError) as caught:
        netdsl.check(source, REG)
    err = caught.value.errors[0]
    assert words in err.message
    assert err.span is not None
    assert (err.span.line, err.span.column) == _position(source, marker)


# --- whole models -------------------------------------------------------------------------------

MODELS: dict[str, str] = {
    "cnn": "conv2d 32 3 relu -> maxpool 2 -> conv2d 64 3 relu -> maxpool 2 -> flatten -> dropout 0.5 "
    "-> dense 10 softmax",
    "lstm_mnist": "lstm 64 -> dense 10 softmax",
    "residual": "conv2d 16 3 relu same -> residual(conv2d 16 3 relu same -> batchnorm -> conv2d 16 3 same) "
    "-> activation relu -> maxpool 2 -> residual(conv2d 16 3 relu same) -> global_avgpool "
    "-> dense 10 softmax",
    "inception": "[conv2d 32 1 | conv2d 32 3 same | maxpool 3 strides=1 same] concat -> conv2d 16 1 relu "
    "-> maxpool 2 -> flatten -> dense 10 softmax",
    "block": "block conv(f) = conv2d f 3 relu same -> batchnorm -> conv2d f 3 relu same -> maxpool 2\n"
    "conv(32) -> conv(64) -> flatten -> dense 10 softmax",
    "repetition": "(conv2d 32 3 relu same -> maxpool 2) * 2 -> flatten -> dense 10 softmax",
    "bidirectional": "bidirectional(lstm 32) -> dense 10 softmax",
    "stacked_rnn": "bidirectional(gru 16 return_sequences=true) sum -> timedistributed(dense 8 relu) "
    "-> simple_rnn 16 -> dense 10 softmax",
    "conv1d_gru": "conv1d 32 3 relu same -> maxpool1d 2 -> gru 32 return_sequences=true -> layernorm "
    "-> global_maxpool1d -> dense 10 softmax",
    "embedding": "dataset: synthetic\ninput: 20\nembedding 100 8 -> conv1d 8 3 causal -> global_avgpool1d -> dense 10 softmax",
    "kitchen_sink": "separable_conv2d 16 3 relu same -> depthwise_conv2d 3 depth_multiplier=2 "
    "-> conv2d_transpose 8 3 strides=2 same -> upsample2d 2 -> zeropad2d 1 "
    "-> spatial_dropout2d 0.1 -> gaussian_noise 0.1 -> avgpool 4 -> layernorm "
    "-> global_maxpool -> dense 10 softmax",
    "merges": "dense 32 -> [dense 16 | dense 16 relu] add -> [dense 8 | dense 8] subtract "
    "-> [dense 8 | dense 8 | dense 8] multiply -> [dense 8 | dense 8] average "
    "-> [dense 8 | dense 8] maximum -> [dense 8 | dense 8] minimum -> dense 10 softmax",
}


@pytest.mark.parametrize("source", MODELS.values(), ids=MODELS.keys())
def test_model_matches_keras(keras: ModuleType, source: str) -> None:
    _check_against_keras(keras, netdsl.check(source, REG))


def test_cnn_node_by_node_and_compiles(keras: ModuleType) -> None:
    model = netdsl.check("input: 28x28x1\n" + MODELS["cnn"], REG)
    net = _check_against_keras(keras, model, compile=True)
    layers = [layer for layer in net.layers if type(layer).__name__ != "InputLayer"]
    assert [n.layer for n in model.nodes] == [
        "conv2d",
        "maxpool2d",
        "conv2d",
        "maxpool2d",
        "flatten",
        "dropout",
        "dense",
    ]
    for node, layer in zip(model.nodes, layers):
        assert (node.output_shape, node.params) == (
            tuple(layer.output.shape[1:]),
            layer.count_params(),
        )
    assert model.total_params == 34826


def test_lstm_reads_mnist_rows_through_an_implicit_reshape() -> None:
    model = netdsl.check(MODELS["lstm_mnist"], REG)
    assert [(n.layer, n.implicit, n.output_shape) for n in model.nodes] == [
        ("reshape", True, (28, 28)),
        ("lstm", False, (64,)),
        ("dense", False, (10,)),
    ]
    assert model.nodes[1].params == 4 * (64 * (28 + 64) + 64)


#: the chain examples (MNIST classifiers); the graph examples have their own hand-written twins
#: in tests/test_graph_keras.py
CHAIN_EXAMPLES = [
    p for p in sorted(EXAMPLES.glob("*.net")) if not netdsl.parse(p.read_text("utf-8")).is_graph
]


@pytest.mark.parametrize("path", CHAIN_EXAMPLES, ids=lambda p: p.name)
def test_example_checks_and_matches_keras(keras: ModuleType, path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert source.startswith("#")
    model = netdsl.check(source, REG, filename=str(path))
    assert model.dataset.name == "mnist" and model.output_shape == (10,)
    _check_against_keras(keras, model)
