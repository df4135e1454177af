"""``netdsl.testing``: the helper plugin authors use to check a shape rule against Keras."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from netdsl.vocab.components import Layer
from netdsl.vocab.registry import load_registry

pytestmark = pytest.mark.slow  # builds Keras layers
REG = load_registry(third_party=False)

#: built-in layer -> cases (arguments as written, input shape), run through real tensors
BUILTIN_CASES: dict[str, list[tuple[str, Any]]] = {
    "dense": [("16 relu", (8,)), ("4 use_bias=false", (3, 5))],
    "conv2d": [("8 3 same", (9, 9, 2)), ("4 5x3 strides=2", (12, 11, 1))],
    "lstm": [("6", (5, 3)), ("6 return_sequences=true", (5, 3))],
    "maxpool": [("2", (8, 8, 3))],
    "batchnorm": [("", (7,))],
    "concat": [("", [(3,), (5,)])],
    "add": [("", [(4, 2), (4, 2)])],
}


@pytest.mark.parametrize("name", sorted(BUILTIN_CASES))
def test_builtin_rules_match_keras(name: str) -> None:
    from netdsl.testing import assert_layer_matches_keras

    layer = REG.get("layer", name)
    assert isinstance(layer, Layer)
    assert_layer_matches_keras(layer, BUILTIN_CASES[name], REG)


def test_the_example_plugin_rule_matches_keras() -> None:
    from netdsl.testing import assert_layer_matches_keras
    from netdsl_extras import MAX_NORM_DENSE

    assert_layer_matches_keras(
        MAX_NORM_DENSE, [("8", (4,)), ("3 relu 2.5 use_bias=false", (6,))], REG
    )


def test_a_wrong_rule_is_reported_with_both_answers() -> None:
    from netdsl.testing import assert_layer_matches_keras

    dense = REG.get("layer", "dense")
    assert isinstance(dense, Layer)

    def no_bias_counted(shape: Any, a: Mapping[str, Any]) -> Any:
        return (a["units"],), shape[-1] * a["units"]  # forgets the bias

    wrong = dataclasses.replace(dense, name="my_dense", infer=no_bias_counted)
    with pytest.raises(AssertionError) as info:
        assert_layer_matches_keras(wrong, [("4", (3,)), ("4 use_bias=false", (3,))], REG)
    text = str(info.value)
    assert "1 case(s)" in text and "`my_dense 4` on 3" in text
    assert "12 parameters" in text and "16" in text


def test_build_refuses_a_plugin_rule_that_disagrees_with_keras() -> None:
    import netdsl
    from netdsl.errors import NetdslPluginError
    from netdsl.vocab.registry import Provider

    reg = load_registry(third_party=False)
    dense = reg.get("layer", "dense")
    assert isinstance(dense, Layer)

    def wrong_rule(shape: Any, a: Mapping[str, Any]) -> Any:
        return (a["units"],), shape[-1] * a["units"]  # forgets the bias

    reg.add(
        dataclasses.replace(dense, name="bad_dense", infer=wrong_rule),
        Provider("netdsl-bad", "0.3", "bad"),
    )
    model = netdsl.check("bad_dense 32 relu -> dense 10 softmax", reg)
    assert model.nodes[1].params == 784 * 32  # what the rule claims
    with pytest.raises(NetdslPluginError) as info:
        netdsl.build(model)
    err = info.value
    assert err.code == "NDL208" and "`bad_dense` (netdsl-bad 0.3)" in err.message
    assert "25,088 parameters" in err.message and "25,120" in err.message
    assert err.span is not None and err.span.column == 1
