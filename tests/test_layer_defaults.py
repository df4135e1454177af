"""Every layer declaration agrees with the Keras constructor it builds: names and defaults.

So a default cannot drift from Keras's (checked against ``inspect.signature``), and every
declared parameter is one Keras really takes.
"""

from __future__ import annotations

import inspect

import pytest

from netdsl.vocab.components import REQUIRED
from netdsl.vocab.registry import load_registry

keras = pytest.importorskip("keras")
REG = load_registry(third_party=False)
LAYERS = [
    e.component for e in REG.entries("layer") if getattr(e.component.build, "keras_path", None)
]


def _keras_signature(path: str) -> inspect.Signature:
    obj = keras
    for part in path.split("."):
        obj = getattr(obj, part)
    return inspect.signature(obj)


def _normalise(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.name)
def test_layer_params_are_keras_params_with_keras_defaults(layer) -> None:
    sig = _keras_signature(layer.build.keras_path)
    for p in layer.params:
        assert p.name in sig.parameters, f"{layer.name}: Keras has no parameter {p.name!r}"
        theirs = sig.parameters[p.name].default
        if p.default is REQUIRED:
            assert theirs is inspect.Parameter.empty, f"{layer.name}.{p.name} is optional in Keras"
            continue
        if theirs is inspect.Parameter.empty:
            continue  # required in Keras, with a netdsl default: allowed (e.g. flatten's none)
        if isinstance(theirs, int) and isinstance(p.default, tuple):
            continue  # Keras expands an int window to every axis; netdsl stores the tuple
        assert _normalise(p.default) == _normalise(theirs), (
            f"{layer.name}.{p.name}: netdsl default {p.default!r} != Keras default {theirs!r}"
        )


def test_every_keras_built_layer_is_covered() -> None:
    assert {"dense", "dropout", "flatten", "reshape", "activation", "batchnorm"} <= {
        c.name for c in LAYERS
    }
