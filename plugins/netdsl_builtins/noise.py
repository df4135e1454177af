"""Built-in regularising noise layers: gaussian_noise and spatial_dropout2d (active only while
training; the plain ``dropout`` is a core layer).

Each layer's shape rule, multiply-accumulate count and declaration sit together.
"""

from __future__ import annotations

from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.rules import SEED_MAX
from netdsl_builtins.shapes import RATE, Args, no_macs, require_rank


def _same(shape: Shape, a: Args) -> tuple[Shape, int]:
    """A layer that keeps its input's shape and has no weights."""
    return shape, 0


GAUSSIAN_NOISE = Layer(
    name="gaussian_noise",
    description="add zero-mean noise of standard deviation stddev while training",
    params=(
        Param("stddev", T.Float(min=0, max=1), positional=True, help="Keras takes 0 to 1"),
        Param("seed", T.Int(min=0, max=SEED_MAX), None),
    ),
    infer=_same,
    build=keras_factory("layers.GaussianNoise"),
    macs=no_macs,
)


def _spatial_dropout(shape: Shape, a: Args) -> tuple[Shape, int]:
    """SpatialDropout2D: drops whole channels of an image."""
    require_rank(shape, 3)
    return shape, 0


SPATIAL_DROPOUT2D = Layer(
    name="spatial_dropout2d",
    description="randomly drop a fraction `rate` of whole channels while training",
    params=(Param("rate", RATE, positional=True), Param("seed", T.Int(min=0, max=SEED_MAX), None)),
    infer=_spatial_dropout,
    accepts="image",
    build=keras_factory("layers.SpatialDropout2D"),
    macs=no_macs,
)

LAYERS = (GAUSSIAN_NOISE, SPATIAL_DROPOUT2D)


@hookimpl
def register_layers(register: Any) -> None:
    """The noise layers."""
    for layer in LAYERS:
        register(layer)
