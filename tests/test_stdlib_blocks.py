"""The standard library of blocks (plugins/netdsl_builtins/blocks.py), each against a
hand-written Keras reference of the same sizes: the block's parameter count and output shape
as the checker says them must equal the reference model's."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import netdsl
from netdsl.checking.checker import CheckedModel
from netdsl.vocab.registry import load_registry

REG = load_registry(third_party=False)

#: an image input for the convolutional blocks (small, so the tests stay quick)
IMAGE = (8, 8, 16)


def _resnet_basic(k: Any, x: Any) -> Any:
    y = k.layers.Conv2D(16, 3, padding="same")(x)
    y = k.layers.BatchNormalization()(y)
    y = k.layers.Activation("relu")(y)
    y = k.layers.Conv2D(16, 3, padding="same")(y)
    y = k.layers.BatchNormalization()(y)
    return k.layers.Activation("relu")(k.layers.Add()([x, y]))


def _resnet_bottleneck(k: Any, x: Any) -> Any:
    """keras.applications.resnet's block1 with conv_shortcut=False, filters 4 (4 x 4 = 16)."""
    y = k.layers.Conv2D(4, 1)(x)
    y = k.layers.Activation("relu")(k.layers.BatchNormalization(epsilon=1.001e-5)(y))
    y = k.layers.Conv2D(4, 3, padding="same")(y)
    y = k.layers.Activation("relu")(k.layers.BatchNormalization(epsilon=1.001e-5)(y))
    y = k.layers.BatchNormalization(epsilon=1.001e-5)(k.layers.Conv2D(16, 1)(y))
    return k.layers.Activation("relu")(k.layers.Add()([x, y]))


def _inverted_residual(k: Any, x: Any) -> Any:
    """keras.applications.mobilenet_v2's _inverted_res_block, expansion 6, stride 1."""
    y = k.layers.Conv2D(96, 1, padding="same", use_bias=False)(x)
    y = k.layers.ReLU(6.0)(k.layers.BatchNormalization(epsilon=1e-3, momentum=0.999)(y))
    y = k.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(y)
    y = k.layers.ReLU(6.0)(k.layers.BatchNormalization(epsilon=1e-3, momentum=0.999)(y))
    y = k.layers.Conv2D(16, 1, padding="same", use_bias=False)(y)
    y = k.layers.BatchNormalization(epsilon=1e-3, momentum=0.999)(y)
    return k.layers.Add()([x, y])


def _squeeze_excite(k: Any, x: Any) -> Any:
    s = k.layers.GlobalAveragePooling2D()(x)
    s = k.layers.Dense(4, activation="relu")(s)
    s = k.layers.Dense(16, activation="sigmoid")(s)
    return k.layers.Multiply()([x, k.layers.Reshape((1, 1, 16))(s)])


def _inception(k: Any, x: Any) -> Any:
    a = k.layers.Conv2D(8, 1, activation="relu")(x)
    b = k.layers.Conv2D(4, 1, activation="relu")(x)
    b = k.layers.Conv2D(8, 3, padding="same", activation="relu")(b)
    c = k.layers.Conv2D(2, 1, activation="relu")(x)
    c = k.layers.Conv2D(4, 5, padding="same", activation="relu")(c)
    d = k.layers.MaxPooling2D(3, strides=1, padding="same")(x)
    d = k.layers.Conv2D(4, 1, activation="relu")(d)
    return k.layers.Concatenate()([a, b, c, d])


#: a sequence input for the transformer blocks: 10 steps of width 16
SEQUENCE = (10, 16)


def _transformer(k: Any, x: Any, *, first: bool = False, causal: bool = False) -> Any:
    """KerasHub's TransformerEncoder (and TransformerDecoder without an encoder sequence),
    written in plain Keras: hidden 16, 4 heads (key size 4), intermediate 32, dropout 0.1,
    relu, layer-norm epsilon 1e-5; ``first``: normalize_first (pre-norm)."""
    norm = lambda: k.layers.LayerNormalization(epsilon=1e-5)  # noqa: E731
    residual = x
    y = norm()(x) if first else x
    y = k.layers.MultiHeadAttention(num_heads=4, key_dim=16 // 4, dropout=0.1)(
        y, y, use_causal_mask=causal
    )
    y = k.layers.Add()([residual, k.layers.Dropout(0.1)(y)])
    y = y if first else norm()(y)
    residual = y
    z = norm()(y) if first else y
    z = k.layers.Dense(16)(k.layers.Dense(32, activation="relu")(z))
    z = k.layers.Add()([residual, k.layers.Dropout(0.1)(z)])
    return z if first else norm()(z)


#: name -> (the use in netdsl, its input shape, the Keras reference)
CASES: dict[str, tuple[str, tuple[int, ...], Callable[[Any, Any], Any]]] = {
    "transformer_encoder": ("transformer_encoder(16, 4, 32, 0.1)", SEQUENCE, _transformer),
    "transformer_encoder_prenorm": (
        "transformer_encoder_prenorm(16, 4, 32, 0.1)",
        SEQUENCE,
        lambda k, x: _transformer(k, x, first=True),
    ),
    "transformer_decoder": (
        "transformer_decoder(16, 4, 32, 0.1)",
        SEQUENCE,
        lambda k, x: _transformer(k, x, causal=True),
    ),
    "transformer_decoder_prenorm": (
        "transformer_decoder_prenorm(16, 4, 32, 0.1)",
        SEQUENCE,
        lambda k, x: _transformer(k, x, first=True, causal=True),
    ),
    "resnet_basic": ("resnet_basic(16)", IMAGE, _resnet_basic),
    "resnet_bottleneck": ("resnet_bottleneck(4, 16)", IMAGE, _resnet_bottleneck),
    "inverted_residual": ("inverted_residual(96, 16)", IMAGE, _inverted_residual),
    "squeeze_excite": ("squeeze_excite(16, 4)", IMAGE, _squeeze_excite),
    "inception_module": ("inception_module(8, 4, 8, 2, 4, 4)", IMAGE, _inception),
}


def _checked(use: str, shape: tuple[int, ...]) -> CheckedModel:
    dims = "x".join(map(str, shape))
    return netdsl.check(
        f"dataset: synthetic\ninput: {dims}\n{use} -> flatten -> dense 10 softmax", REG
    )


def _block_figures(model: CheckedModel) -> tuple[int, tuple[Any, ...]]:
    """The block's parameters and output shape: every node but the flatten-dense head."""
    inner = model.nodes[:-2]
    return sum(n.params for n in inner), tuple(inner[-1].output_shape)


def test_every_standard_block_has_a_reference() -> None:
    assert sorted(CASES) == sorted(REG.names("block"))


#: what the checker says of each block here, measured once against Keras by the test below
FIGURES: dict[str, tuple[int, tuple[int, ...]]] = {
    "transformer_encoder": (2_224, (10, 16)),
    "transformer_encoder_prenorm": (2_224, (10, 16)),
    "transformer_decoder": (2_224, (10, 16)),
    "transformer_decoder_prenorm": (2_224, (10, 16)),
    "resnet_basic": (4_768, (8, 8, 16)),
    "resnet_bottleneck": (392, (8, 8, 16)),
    "inverted_residual": (4_768, (8, 8, 16)),
    "squeeze_excite": (148, (8, 8, 16)),
    "inception_module": (806, (8, 8, 24)),
}


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_standard_block_checks_without_tensorflow(name: str) -> None:
    use, shape, _ = CASES[name]
    assert _block_figures(_checked(use, shape)) == FIGURES[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_standard_block_matches_its_keras_reference(name: str) -> None:
    keras: ModuleType = pytest.importorskip("keras")
    use, shape, reference = CASES[name]
    inputs = keras.Input(shape=shape)
    ref = keras.Model(inputs, reference(keras, inputs))
    model = _checked(use, shape)
    params, out = _block_figures(model)
    assert netdsl.build(model, compile=False).count_params() == model.total_params
    assert params == ref.count_params()
    assert out == tuple(ref.output.shape[1:])
    assert (params, out) == FIGURES[name]


@pytest.mark.parametrize(
    ("network", "out", "words"),
    [
        ("[activation linear | global_avgpool2d keepdims=true] multiply", (8, 8, 16), None),
        ("[activation linear | conv2d 4 1] multiply", None, "neither agree nor broadcast"),
        ("[activation linear | global_avgpool2d] multiply", None, "different ranks"),
    ],
    ids=["broadcasts-size-1", "sizes-differ", "ranks-differ"],
)
def test_multiply_broadcasts_a_size_1_axis_as_keras_does(
    network: str, out: tuple[int, ...] | None, words: str | None
) -> None:
    source = f"dataset: synthetic\ninput: 8x8x16\n{network} -> flatten -> dense 10 softmax"
    if words is None:
        assert tuple(netdsl.check(source, REG).nodes[-3].output_shape) == out
        return
    with pytest.raises(netdsl.NetdslError) as info:
        netdsl.check(source, REG)
    assert info.value.errors[0].code == "NDL008" and words in info.value.errors[0].message


# --- examples/vit.net: the vision transformer built from the standard library -----------------

VIT = Path(__file__).resolve().parents[1] / "examples" / "vit.net"


def test_the_vision_transformer_checks_with_its_header_figure() -> None:
    model = netdsl.check(VIT.read_text(encoding="utf-8"), REG, filename=str(VIT))
    assert model.total_params == 71_946
    assert "71,946 parameters" in VIT.read_text(encoding="utf-8")
    assert sum(n.layer == "attention" for n in model.nodes) == 2


@pytest.mark.slow
def test_the_vision_transformer_matches_its_keras_twin() -> None:
    pytest.importorskip("keras")
    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    try:
        import baseline_vit
    finally:
        sys.path.remove(str(bench))
    twin = baseline_vit.build()
    model = netdsl.check(VIT.read_text(encoding="utf-8"), REG, filename=str(VIT))
    built = netdsl.build(model, compile=False)
    assert built.count_params() == twin.count_params() == model.total_params
    assert tuple(built.output.shape[1:]) == tuple(twin.output.shape[1:]) == (10,)
