"""Built-in core layers: dense, dropout, flatten, reshape, activation, batchnorm.

Each declaration carries its pure-Python shape and parameter-count rule (``infer``) so that
``netdsl check`` and ``summary`` agree with Keras without importing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Adapter, Layer, Param, Shape, ShapeProblem, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.rules import SEED_MAX, activated, initializer_ranks, matrix_regularizers

INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "zeros",
    "ones",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "orthogonal",
    "identity",
    "variance_scaling",
)


def _dense(shape: Shape, a: Mapping[str, Any]) -> tuple[Shape, int]:
    n = shape[-1]
    if n is None:
        raise ShapeProblem("dense needs a known input size", help="give the input a fixed size")
    out = activated((*shape[:-1], a["units"]), a["activation"])
    return out, n * a["units"] + (a["units"] if a["use_bias"] else 0)


def _same(shape: Shape, a: Mapping[str, Any]) -> tuple[Shape, int]:
    return shape, 0


def _activation(shape: Shape, a: Mapping[str, Any]) -> tuple[Shape, int]:
    return activated(shape, a["activation"]), 0


def _flatten(shape: Shape, a: Mapping[str, Any]) -> tuple[Shape, int]:
    return (None if any(d is None for d in shape) else prod(shape),), 0


def _reshape(shape: Shape, a: Mapping[str, Any]) -> tuple[Shape, int]:
    target = a["target_shape"]
    if any(d is None for d in shape):
        return tuple(None if d == -1 else d for d in target), 0
    total, known = prod(shape), prod(d for d in target if d != -1)
    if -1 in target:
        if total % known:
            raise ShapeProblem(
                f"cannot reshape {total} values into {_dims(target)}", "target_shape"
            )
        return tuple(total // known if d == -1 else d for d in target), 0
    if known != total:
        raise ShapeProblem(
            f"cannot reshape {_dims(shape)} ({total} values) into {_dims(target)} ({known} values)",
            "target_shape",
        )
    return tuple(target), 0


def _batchnorm(shape: Shape, a: Mapping[str, Any]) -> tuple[Shape, int]:
    full = len(shape) + 1  # Keras counts the batch axis: axis=1 is the first axis of `shape`
    axis = a["axis"]
    if not -full <= axis < full or axis % full == 0:
        raise ShapeProblem(
            f"axis {axis} is not a feature axis of an input of shape {_dims(shape)}", "axis"
        )
    c = shape[axis % full - 1]
    if c is None:
        raise ShapeProblem(f"axis {axis} has an unknown size in {_dims(shape)}", "axis")
    return shape, c * (2 + int(a["center"]) + int(a["scale"]))


# --- multiply-accumulates per example (``netdsl summary --flops``) -------------------------------


def _dense_macs(shape: Shape, out: Shape, a: Mapping[str, Any]) -> int:
    """One multiply-add per input feature and unit, at every position."""
    return int(prod(shape)) * int(a["units"])


def _no_macs(shape: Shape, out: Shape, a: Mapping[str, Any]) -> int:
    """Moves, masks or reshapes values: no arithmetic (an activation is not counted)."""
    return 0


def _per_value(shape: Shape, out: Shape, a: Mapping[str, Any]) -> int:
    """One multiply-add per value (a normalisation at inference: scale and shift)."""
    return prod(out)


def _dims(shape: Shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


_REG = T.Ref("regularizer")
_INIT = T.Choice(INITIALIZERS)

DENSE = Layer(
    name="dense",
    description="fully connected layer: units outputs, each a weighted sum of all inputs",
    params=(
        Param("units", T.Int(min=1), positional=True, help="number of outputs"),
        Param("activation", T.Ref("activation"), None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("kernel_initializer", _INIT, "glorot_uniform"),
        Param("bias_initializer", _INIT, "zeros"),
        Param("kernel_regularizer", _REG, None, positional=True),
        Param("bias_regularizer", _REG, None),
        Param("activity_regularizer", _REG, None),
    ),
    infer=_dense,
    accepts="vector",
    rules=(
        initializer_ranks(kernel_initializer=2, bias_initializer=1),
        matrix_regularizers(bias_regularizer=1, activity_regularizer=2),
    ),
    build=keras_factory("layers.Dense"),
    macs=_dense_macs,
)

DROPOUT = Layer(
    name="dropout",
    description="randomly zero a fraction `rate` of inputs while training (fights over-fitting)",
    params=(
        Param("rate", T.Float(min=0, max=1, max_open=True), positional=True),
        Param("seed", T.Int(min=0, max=SEED_MAX), None),
    ),
    infer=_same,
    transparent=True,
    build=keras_factory("layers.Dropout"),
    macs=_no_macs,
)

FLATTEN = Layer(
    name="flatten",
    description="flatten every axis but the batch into one vector",
    infer=_flatten,
    transparent=True,
    keeps_values=True,
    adapters=(
        Adapter("vector", lambda shape: {} if len(shape) >= 3 else None),  # images
        Adapter(
            "vector", lambda shape: {} if len(shape) == 2 else None, implicit=False
        ),  # sequences
    ),
    build=keras_factory("layers.Flatten"),
    macs=_no_macs,
)

RESHAPE = Layer(
    name="reshape",
    description="reshape to target_shape (same number of values; one -1 is inferred)",
    params=(Param("target_shape", T.ShapeT(allow_unknown=True), positional=True),),
    infer=_reshape,
    transparent=True,
    keeps_values=True,
    adapters=(
        # a one-channel image is read row by row; another rank-3 input only gets the suggestion
        Adapter(
            "sequence",
            lambda s: {"target_shape": tuple(s[:2])} if len(s) == 3 and s[-1] == 1 else None,
        ),
        Adapter(
            "sequence",
            lambda s: (
                {"target_shape": (s[0], prod(s[1:]))} if len(s) >= 2 and None not in s else None
            ),
            implicit=False,
        ),
        Adapter("image", lambda s: {"target_shape": (*s, 1)} if len(s) == 2 else None),
    ),
    build=keras_factory("layers.Reshape"),
    macs=_no_macs,
)

ACTIVATION = Layer(
    name="activation",
    description="apply an activation function on its own",
    params=(Param("activation", T.Ref("activation"), positional=True),),
    infer=_activation,
    build=keras_factory("layers.Activation"),
    macs=_no_macs,
)

BATCHNORM = Layer(
    name="batchnorm",
    aliases=("batch_normalization",),
    description="normalise each channel over the batch (4 parameters per channel)",
    params=(
        Param("axis", T.Int(), -1),
        Param("momentum", T.Float(min=0, max=1), 0.99, positional=True),
        Param("epsilon", T.Float(min=0, min_open=True), 0.001),
        Param("center", T.Bool(), True),
        Param("scale", T.Bool(), True),
    ),
    infer=_batchnorm,
    build=keras_factory("layers.BatchNormalization"),
    macs=_per_value,
)

CORE = (DENSE, DROPOUT, FLATTEN, RESHAPE, ACTIVATION, BATCHNORM)


@hookimpl
def register_layers(register: Any) -> None:
    """The core layers."""
    for layer in CORE:
        register(layer)
