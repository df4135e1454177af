"""Every built-in layer's shape rule against REAL tensors (not Keras's ``compute_output_shape``).

Each case is checked by netdsl, built by the compiler, and a real batch of random numbers is run
through every layer; each layer's actual output shape and parameter count must be what its rule
said. (``glu`` halves the last axis in Keras although ``compute_output_shape`` says it keeps it:
only running real tensors shows that.) The table must cover every built-in layer.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np
import pytest

import netdsl
from netdsl.vocab.registry import load_registry

REG = load_registry(third_party=False)

#: (input shape, network before the classification head), at least one per built-in layer
CASES: list[tuple[str, str]] = [
    ("8", "dense 6 relu"),
    ("8", "dense 6 glu"),
    ("8", "activation glu"),
    ("8", "activation softmax"),
    ("8", "dropout 0.5 seed=7"),
    ("6x4", "flatten"),
    ("8", "reshape 2x4"),
    ("8", "reshape (-1, 2)"),
    ("8", "batchnorm"),
    ("6x4", "layernorm"),
    ("6x4", "conv1d 4 3 relu padding=causal"),
    ("8x8x1", "conv2d 4 3 relu"),
    ("8x8x1", "conv2d 4 3 glu padding=same"),
    ("8x8x2", "separable_conv2d 4 3 depth_multiplier=2"),
    ("8x8x2", "depthwise_conv2d 3 depth_multiplier=2 glu"),
    ("5x5x2", "conv2d_transpose 3 3 strides=2"),
    ("6x4", "maxpool1d 2"),
    ("8x8x1", "maxpool2d 2"),
    ("6x4", "avgpool1d 3 padding=same"),
    ("8x8x1", "avgpool2d 3"),
    ("6x4", "global_avgpool1d"),
    ("8x8x1", "global_avgpool2d keepdims=true"),
    ("6x4", "global_maxpool1d"),
    ("8x8x1", "global_maxpool2d"),
    ("4x4x1", "upsample2d 2"),
    ("4x4x1", "zeropad2d 1"),
    ("8", "embedding 10 3"),
    ("6x4", "simple_rnn 5"),
    ("6x4", "lstm 5 return_sequences=true"),
    ("6x4", "gru 5 reset_after=false"),
    ("6x4", "bidirectional(lstm 3)"),
    ("6x4", "bidirectional(gru 3 return_sequences=true) sum"),
    ("6x4", "timedistributed(dense 5)"),
    ("8", "gaussian_noise 0.5"),
    ("8x8x2", "spatial_dropout2d 0.5"),
    ("8", "residual(dense 8 relu -> dense 8)"),
    ("8", "[dense 4 | dense 4] add"),
    ("8", "[dense 4 | dense 4] subtract"),
    ("8", "[dense 4 | dense 4] multiply"),
    ("8", "[dense 4 | dense 4] average"),
    ("8", "[dense 4 | dense 4] maximum"),
    ("8", "[dense 4 | dense 4] minimum"),
    ("8", "[dense 4 | dense 6] concat"),
    ("8x8x1", "rescaling 0.5 offset=1.0"),
    ("8x8x1", "resizing 4x6"),
    ("8x8x1", "center_crop 4x4"),
    ("8x8x3", "random_flip seed=1"),
    ("8x8x3", "random_rotation 0.1 seed=1"),
    ("8x8x3", "random_zoom 0.1 seed=1"),
    ("8x8x3", "random_translation 0.1 0.1 seed=1"),
    ("8x8x3", "random_contrast 0.2 seed=1"),
    ("8", "normalization 0.5 2.0"),
    ("8", "discretization [2.0, 5.0] output_mode=one_hot"),
    ("8", "category_encoding 10 output_mode=count"),
    ("8", "hashing 16 output_mode=multi_hot"),
    ("6x8", "attention 2 4"),
    ("6x8", "[conv1d 8 1 | conv1d 8 1] attention 2"),
    ("6x8", "position_embedding"),
    ("6x8", "sine_position_embedding"),
    ("6", "token_position_embedding 10 6 4"),
    ("32x32x3", "mobilenet_v2 weights=none"),
    ("32x32x3", "efficientnet_b0 weights=none avg"),
    ("32x32x3", "resnet50 weights=none"),
    ("32x32x3", "vgg16 weights=none max"),
]

#: built-in layers no table row can build: each needs something outside the program, and the
#: named test checks its shapes against the real thing instead
ELSEWHERE = {"from_run": "tests/test_reuse.py (an earlier run folder's trained layers)"}


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return pytest.importorskip("keras")


def test_the_table_covers_every_built_in_layer() -> None:
    covered = set()
    for shape, net in CASES:
        model = netdsl.check(
            f"input: {shape}\ndataset: synthetic\n{net} -> flatten -> dense 10 softmax\n"
        )
        covered.update(node.layer for node in model.nodes)
    builtin = {e.component.name for e in REG.entries("layer") if "built-in" in str(e.provider)}
    assert builtin - covered - set(ELSEWHERE) == set()


@pytest.mark.slow
@pytest.mark.parametrize("shape, net", CASES, ids=[f"{s}:{n}" for s, n in CASES])
def test_rule_matches_real_tensors(keras: ModuleType, shape: str, net: str) -> None:
    from netdsl.keras.compiler import build_layers

    model = netdsl.check(
        f"input: {shape}\ndataset: synthetic\n{net} -> flatten -> dense 10 softmax\n"
    )
    inputs, layers, tensors = build_layers(model)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (2, *model.input_shape)).astype("float32")  # ids for embedding too
    outputs = keras.Model(inputs, tensors)(x)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for node, layer, value in zip(model.nodes, layers, outputs):
        real = tuple(np.shape(value)[1:])
        assert (real, int(layer.count_params())) == (tuple(node.output_shape), node.params), (
            node.text
        )


def test_glu_halves_the_last_axis_in_the_summary() -> None:
    model = netdsl.check("input: 784\ndense 20 glu -> dense 10 softmax\n")
    assert [n.output_shape for n in model.nodes] == [(10,), (10,)]
    assert sum(n.params for n in model.nodes) == 784 * 20 + 20 + 10 * 10 + 10
