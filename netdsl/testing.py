"""Helpers for plugin authors' tests: check a layer's pure-Python shape rule against Keras.

``netdsl check`` trusts a layer's ``infer`` for shapes and parameter counts, and ``netdsl run``
refuses a model whose layers disagree with what Keras built. Call
:func:`assert_layer_matches_keras` in your plugin's tests to find a wrong rule first::

    from netdsl.testing import assert_layer_matches_keras
    from netdsl_foo import PROJECTION

    def test_projection_rule():
        assert_layer_matches_keras(PROJECTION, [("16", (8,)), ("4", (3, 5))])

Each case is the layer's arguments as a program writes them and one example's input shape
(a list of shapes for a merge layer). The layer is built and a real tensor is run through it:
the output shape and parameter count must equal the rule's. Imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .checking.bind import Binder
from .errors import NetdslError
from .keras.compiler import materialise
from .keras.runtime import import_keras
from .lang.parser import parse
from .vocab.components import Layer
from .vocab.registry import Registry, default_registry

__all__ = ["assert_layer_matches_keras", "layer_mismatches"]

Case = tuple[str, Any]


def layer_mismatches(
    layer: Layer, cases: Iterable[Case], registry: Registry | None = None
) -> list[str]:
    """One line per case whose rule disagrees with the Keras layer (empty when all agree)."""
    import numpy as np

    import_keras()
    registry = registry or default_registry()
    out = []
    for args, shape in cases:
        bound = _bind(layer, args, registry)
        merge = layer.merge or layer.wrapper == "chain"
        shapes = [tuple(s) for s in shape] if merge else tuple(shape)
        rule_shape, rule_params = layer.infer(shapes, bound)
        assert layer.build is not None, f"{layer.name} has no build function"
        keras_layer = layer.build(**{k: materialise(v) for k, v in bound.items()})
        rng = np.random.default_rng(0)
        inputs = (
            [rng.random((2, *s), dtype=np.float32) for s in shapes]
            if merge
            else rng.random((2, *shapes), dtype=np.float32)
        )
        tensor = keras_layer(inputs)
        real = (tuple(int(d) for d in tensor.shape[1:]), int(keras_layer.count_params()))
        said = (tuple(rule_shape), int(rule_params))
        if real != said:
            out.append(
                f"`{layer.name} {args}` on {_dims(shape)}: the rule says shape {said[0]} with "
                f"{said[1]:,} parameters, Keras gives {real[0]} with {real[1]:,}"
            )
    return out


def assert_layer_matches_keras(
    layer: Layer, cases: Iterable[Case], registry: Registry | None = None
) -> None:
    """Fail (``AssertionError`` listing every disagreeing case) unless the rule matches Keras."""
    wrong = layer_mismatches(layer, cases, registry)
    assert not wrong, "\n".join(
        [f"{len(wrong)} case(s) where `{layer.name}`'s rule disagrees with Keras:", *wrong]
    )


def _bind(layer: Layer, args: str, registry: Registry) -> dict[str, Any]:
    """Arguments as written (``"32 3 relu same"``) bound to the layer's parameters."""
    network = parse(f"{layer.name} {args}".strip()).network
    assert network is not None and len(network.steps) == 1
    step = network.steps[0]
    binder = Binder(registry)
    bound = binder.bind(layer, getattr(step, "args", ()), getattr(step, "span", None))
    if binder.errors or bound is None:
        raise NetdslError("; ".join(e.message for e in binder.errors) or f"cannot bind `{args}`")
    return dict(bound)


def _dims(shape: Sequence[Any]) -> str:
    if shape and isinstance(shape[0], (tuple, list)):
        return " + ".join(_dims(s) for s in shape)
    return "x".join(map(str, shape))
