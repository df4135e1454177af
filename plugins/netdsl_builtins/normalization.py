"""Built-in normalisation layer beyond the core ``batchnorm``: layernorm.

The layer's shape and parameter-count rule (``infer``, agreeing with Keras exactly; see
``tests/test_layers_keras.py``), its multiply-accumulate count and its declaration sit together.
"""

from __future__ import annotations

from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, ShapeProblem, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.shapes import Args, dims, per_value


def _layernorm(shape: Shape, a: Args) -> tuple[Shape, int]:
    """LayerNormalization: gamma and beta per feature of ``axis`` (which counts the batch axis)."""
    axis, full = a["axis"], len(shape) + 1
    if not -full <= axis < full or axis % full == 0:
        raise ShapeProblem(
            f"axis {axis} is not a feature axis of an input of shape {dims(shape)}",
            "axis",
            help="-1 (the last axis) normalises each position's features",
        )
    n = shape[axis % full - 1]
    if n is None:
        raise ShapeProblem(
            f"axis {axis} of {dims(shape)} must have a known size",
            "axis",
            help="normalise an axis of known size, e.g. the last (`axis=-1`)",
        )
    return shape, n * (int(a["center"]) + int(a["scale"]))


LAYERNORM = Layer(
    name="layernorm",
    aliases=("layer_normalization",),
    description="normalise each example's features (2 parameters per feature)",
    params=(
        Param("axis", T.Int(), -1),
        Param("epsilon", T.Float(min=0, min_open=True), 0.001),
        Param("center", T.Bool(), True),
        Param("scale", T.Bool(), True),
    ),
    infer=_layernorm,
    build=keras_factory("layers.LayerNormalization"),
    macs=per_value,
)

LAYERS = (LAYERNORM,)


@hookimpl
def register_layers(register: Any) -> None:
    """The normalisation layers."""
    for layer in LAYERS:
        register(layer)
