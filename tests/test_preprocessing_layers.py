"""The preprocessing layers in the language (issue 23): shapes and parameter counts exactly as
Keras builds them, the augmentations idle at inference, bad arguments refused by `check`."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import builtin_registry

import netdsl
from netdsl.errors import NetdslError
from netdsl.testing import layer_mismatches
from netdsl_builtins import preprocessing as P

CASES: dict[str, tuple[Any, list[tuple[str, Any]]]] = {
    "rescaling": (P.RESCALING, [("0.00392", (8, 8, 3)), ("2.0 offset=-1.0", (5,))]),
    "resizing": (P.RESIZING, [("4x6", (8, 8, 3)), ("16 interpolation=nearest", (8, 8, 1))]),
    "center_crop": (P.CENTER_CROP, [("4x4", (8, 8, 3)), ("6x2", (8, 8, 1))]),
    "random_flip": (P.RANDOM_FLIP, [("", (8, 8, 3)), ("horizontal seed=1", (8, 8, 1))]),
    "random_rotation": (P.RANDOM_ROTATION, [("0.1", (8, 8, 3))]),
    "random_zoom": (P.RANDOM_ZOOM, [("0.2", (8, 8, 3)), ("0.2 width_factor=0.1", (8, 8, 1))]),
    "random_translation": (P.RANDOM_TRANSLATION, [("0.1 0.2", (8, 8, 3))]),
    "random_contrast": (P.RANDOM_CONTRAST, [("0.3", (8, 8, 3))]),
    "normalization": (P.NORMALIZATION, [("0.5 2.0", (4,)), ("0.0 1.0", (3, 5))]),
    "discretization": (
        P.DISCRETIZATION,
        [
            ("[0.0, 1.0]", (4,)),
            ("[0.0, 1.0, 2.0] output_mode=multi_hot", (4,)),
            ("[0.5] output_mode=one_hot", (1,)),
            ("[0.5] output_mode=one_hot", (3,)),
        ],
    ),
    "category_encoding": (
        P.CATEGORY_ENCODING,
        [("10", (4,)), ("10 output_mode=count", (3,)), ("7 output_mode=one_hot", (1,))],
    ),
    "hashing": (P.HASHING, [("16", (4,)), ("8 output_mode=multi_hot", (3,))]),
}


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
def test_rule_matches_keras(name: str) -> None:
    layer, cases = CASES[name]
    assert layer_mismatches(layer, cases, builtin_registry()) == []


def test_augmentation_is_idle_at_inference() -> None:
    import numpy as np

    from netdsl.keras.compiler import build

    m = netdsl.check(
        "input: 8x8x1\ndataset: synthetic\nrandom_flip seed=1 -> random_rotation 0.2 seed=2 "
        "-> random_contrast 0.5 seed=3 -> flatten -> dense 10 softmax",
        builtin_registry(),
    )
    net = build(m)
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    aug = net.layers[1](x, training=True)
    assert np.allclose(net.layers[1](x, training=False), x) and aug.shape == x.shape


BAD = {
    "resizing-a-vector": (
        "input: 10\ndataset: synthetic\nresizing 4x4 -> dense 10 softmax",
        "image",
    ),
    "unsorted-bins": (
        "input: 4\ndataset: synthetic\ndiscretization [1.0, 0.0] -> dense 10 softmax",
        "increasing order",
    ),
    "factor-over-one": (
        "input: 8x8x1\ndataset: synthetic\nrandom_zoom 2.0 -> flatten -> dense 10 softmax",
        "random_zoom",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_arguments_are_refused_by_check(case: str) -> None:
    text, words = BAD[case]
    with pytest.raises(NetdslError) as info:
        netdsl.check(text, builtin_registry())
    assert words in str(info.value) or any(words in e.message for e in info.value.errors)
