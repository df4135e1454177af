"""Attention and position-embedding layers: rules against Keras, refusals at the span, masks.

Each shape and parameter-count rule is compared with plain Keras (``MultiHeadAttention``, the
Keras example's ``TokenAndPositionEmbedding`` written out here); whole netdsl models are built
and compared node by node; padding masks from ``mask_zero`` must make padding invisible.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import netdsl
from netdsl.checking.bind import Binder
from netdsl.errors import NetdslError
from netdsl.vocab.components import Layer
from netdsl.vocab.registry import load_registry

REG = load_registry(third_party=False)
Shape = tuple


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return pytest.importorskip("keras")


def _bound(text: str) -> tuple[Layer, dict[str, Any]]:
    """The layer named first in ``text`` with the rest as its arguments, bound."""
    program = netdsl.parse(f"[dense 1 | dense 1] {text}")
    branches = program.network.steps[0]  # type: ignore[union-attr]
    component = REG.get("layer", branches.merge)  # type: ignore[union-attr]
    assert isinstance(component, Layer)
    binder = Binder(REG)
    bound = binder.bind(component, branches.merge_args, None)  # type: ignore[union-attr]
    assert bound is not None and not binder.errors
    return component, bound


#: (arguments, shapes of query, value[, key]; one shape: self-attention), Keras kwargs
ATTENTION_CASES: list[tuple[str, list[Shape], dict[str, Any]]] = [
    ("attention 2 32", [(200, 32)], {"num_heads": 2, "key_dim": 32}),
    ("attention 4", [(10, 16)], {"num_heads": 4, "key_dim": 4}),
    ("attention 3 5 value_dim=7", [(6, 9)], {"num_heads": 3, "key_dim": 5, "value_dim": 7}),
    ("attention 2 8 use_bias=false", [(5, 6)], {"num_heads": 2, "key_dim": 8, "use_bias": False}),
    ("attention 2 8 output_shape=11", [(5, 6)], {"num_heads": 2, "key_dim": 8, "output_shape": 11}),
    ("attention 2 8", [(5, 6), (7, 10)], {"num_heads": 2, "key_dim": 8}),
    ("attention 2 8", [(5, 6), (7, 10), (7, 3)], {"num_heads": 2, "key_dim": 8}),
    ("attention 2 4", [(4, 4, 6)], {"num_heads": 2, "key_dim": 4}),
]


@pytest.mark.parametrize(
    ("text", "shapes", "kwargs"),
    ATTENTION_CASES,
    ids=[f"{t} @ {shapes}" for t, shapes, _ in ATTENTION_CASES],
)
def test_attention_matches_keras(
    keras: ModuleType, text: str, shapes: list[Shape], kwargs: dict[str, Any]
) -> None:
    component, bound = _bound(text)
    out, params = component.infer(shapes[0] if len(shapes) == 1 else shapes, bound)
    reference = keras.layers.MultiHeadAttention(**kwargs)
    inputs = [keras.Input(s) for s in shapes]
    query, value = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
    y = reference(query, value, key=inputs[2] if len(inputs) > 2 else None)
    assert tuple(out) == tuple(y.shape[1:])
    assert params == reference.count_params()
    ours = component.build(**bound)  # type: ignore[misc]
    assert tuple(ours(inputs).shape[1:]) == tuple(out)
    assert ours.count_params() == params


def _keras_token_position(keras: ModuleType, maxlen: int, vocab: int, dim: int) -> Any:
    """The Keras example's TokenAndPositionEmbedding, written out as the example does."""

    class TokenAndPositionEmbedding(keras.layers.Layer):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__()
            self.token_emb = keras.layers.Embedding(input_dim=vocab, output_dim=dim)
            self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=dim)

        def call(self, x: Any) -> Any:
            positions = keras.ops.arange(start=0, stop=keras.ops.shape(x)[-1], step=1)
            return self.token_emb(x) + self.pos_emb(positions)

    return TokenAndPositionEmbedding()


def test_token_position_embedding_matches_the_keras_example(keras: ModuleType) -> None:
    model = netdsl.check(
        "dataset: synthetic\ninput: 20\n"
        "token_position_embedding 100 20 8 -> flatten -> dense 10 softmax",
        REG,
    )
    node = model.nodes[0]
    reference = _keras_token_position(keras, 20, 100, 8)
    y = reference(keras.Input((20,)))
    assert tuple(node.output_shape) == tuple(y.shape[1:]) == (20, 8)
    assert node.params == reference.count_params() == (100 + 20) * 8
    net = netdsl.build(model, compile=False)  # verify_shapes: every node against Keras
    assert net.count_params() == model.total_params


MODELS = {
    "self_attention": "dataset: synthetic\ninput: 12\nembedding 50 8 -> attention 2 "
    "-> global_avgpool1d -> dense 10 softmax",
    "positions": "dataset: synthetic\ninput: 12\nembedding 50 8 -> position_embedding "
    "-> sine_position_embedding -> attention 2 4 dropout=0.1 -> layernorm "
    "-> global_avgpool1d -> dense 10 softmax",
    "cross": "dataset: synthetic\ninput: 12\nembedding 50 8 -> [conv1d 16 3 same | lstm 6 "
    "return_sequences=true] attention 2 4 -> global_maxpool1d -> dense 10 softmax",
    "encoder": "dataset: synthetic\ninput: 16\ntoken_position_embedding 60 16 8 mask_zero=true "
    "-> residual(attention 2 8 -> dropout 0.1) -> layernorm epsilon=1e-6 "
    "-> residual(timedistributed(dense 8 relu) -> timedistributed(dense 8)) -> layernorm "
    "-> global_avgpool1d -> dense 10 softmax",
}


@pytest.mark.slow
@pytest.mark.parametrize("source", MODELS.values(), ids=MODELS.keys())
def test_models_match_keras(keras: ModuleType, source: str) -> None:
    model = netdsl.check(source, REG)
    net = netdsl.build(model, compile=False)
    assert net.count_params() == model.total_params
    assert tuple(net.output.shape[1:]) == tuple(model.output_shape)


@pytest.mark.slow
def test_padding_is_invisible_through_the_mask(keras: ModuleType) -> None:
    """With ``mask_zero``, the attention output at real tokens is the same with and without
    trailing padding: padded keys get no weight (Keras carries the mask through)."""
    model = netdsl.check(
        "dataset: synthetic\ninput: 6\nembedding 30 8 mask_zero=true -> attention 2 "
        "-> flatten -> dense 10 softmax",
        REG,
    )
    whole = netdsl.build(model, compile=False)
    net = keras.Model(whole.input, whole.layers[2].output)
    ids = np.array([[5, 7, 9, 0, 0, 0]])
    padded = net.predict(ids, verbose=0)[0, :3]
    embed, attend = net.layers[1], net.layers[2]
    short = keras.Input((3,))
    alone = keras.Model(short, attend([embed(short)]))
    unpadded = alone.predict(ids[:, :3], verbose=0)[0]
    np.testing.assert_allclose(padded, unpadded, rtol=1e-5, atol=1e-6)
    unmasked = netdsl.build(
        netdsl.check(
            "dataset: synthetic\ninput: 6\nembedding 30 8 -> attention 2 -> flatten "
            "-> dense 10 softmax",
            REG,
        ),
        compile=False,
    )
    unmasked.set_weights(whole.get_weights())
    seen = keras.Model(unmasked.input, unmasked.layers[2].output).predict(ids, verbose=0)
    assert not np.allclose(seen[0, :3], unpadded, atol=1e-4)


@pytest.mark.slow
def test_saved_model_reloads(keras: ModuleType, tmp_path: Any) -> None:
    model = netdsl.check(MODELS["encoder"], REG)
    net = netdsl.build(model)
    path = tmp_path / "m.keras"
    net.save(path)
    again = netdsl.load_model(str(path))
    ids = np.array([[3, 4, 5] + [0] * 13])
    np.testing.assert_allclose(net.predict(ids, verbose=0), again.predict(ids, verbose=0))


#: (source, where the caret goes, words of the message)
ERRORS = [
    (
        "dataset: synthetic\ninput: 12\nembedding 50 10 -> attention 4 -> flatten -> dense 10 "
        "softmax",
        "4 ->",
        "4 heads do not divide the query's 10 features",
    ),
    (
        "dataset: synthetic\ninput: 12\ndense 8 -> attention 2 -> dense 10 softmax",
        "attention",
        "a vector: attention needs steps x features",
    ),
    (
        "dataset: synthetic\ninput: 12\nembedding 50 8 -> [conv1d 8 1 | conv1d 8 1 | conv1d 8 3] "
        "attention 2 -> flatten -> dense 10 softmax",
        "attention",
        "the key has 10 steps and the value 12",
    ),
    (
        "dataset: synthetic\ninput: 12\nembedding 50 8 -> [conv1d 8 1 | conv1d 8 1] attention "
        "-> flatten -> dense 10 softmax",
        "attention",
        "num_heads",
    ),
    (
        "dataset: synthetic\ninput: 12\ntoken_position_embedding 50 10 8 -> flatten -> dense 10 "
        "softmax",
        "10 8",
        "more than maxlen 10",
    ),
    (
        "dataset: synthetic\ninput: 12\nembedding 50 8 -> position_embedding 5 -> flatten "
        "-> dense 10 softmax",
        "5 ->",
        "more than maxlen 5",
    ),
]


@pytest.mark.parametrize(("source", "marker", "words"), ERRORS, ids=[w for _, _, w in ERRORS])
def test_refused_at_the_span(source: str, marker: str, words: str) -> None:
    with pytest.raises(NetdslError) as caught:
        netdsl.check(source, REG)
    err = caught.value.errors[0]
    assert words in err.message
    at = source.index(marker)
    line = source.count("\n", 0, at) + 1
    assert err.span is not None
    assert (err.span.line, err.span.column) == (line, at - source.rfind("\n", 0, at))


@pytest.mark.parametrize(
    "text",
    ["[dense 4 | dense 4] attention 2 4 dropout=0.1", "attention 2 -> dense 3"],
)
def test_merge_arguments_format_and_round_trip(text: str) -> None:
    formatted = netdsl.format_source(text) if hasattr(netdsl, "format_source") else None
    program = netdsl.parse(text)
    from netdsl.lang.formatter import format_chain

    assert program.network is not None
    assert format_chain(program.network) == text
    if formatted is not None:
        assert text in formatted


def test_emit_writes_the_classes_into_the_program() -> None:
    from netdsl.keras.emit import emit_program

    model = netdsl.check(
        "dataset: synthetic\ninput: 12\ntoken_position_embedding 50 12 8 mask_zero=true "
        "-> sine_position_embedding -> [conv1d 8 1 | conv1d 8 1] attention 2 -> attention 2 4 "
        "-> global_avgpool1d -> dense 10 softmax",
        REG,
    )
    source = emit_program(model)
    compile(source, "emitted.py", "exec")
    for name in ("TokenPositionEmbedding", "SinePositionEmbedding", "Attention"):
        assert source.count(f"class {name}(") == 1
    assert "Attention(\n" in source or "Attention(num_heads=2" in source
