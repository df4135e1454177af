"""Built-in activations: every single-tensor activation of Keras 3, under its Keras name.

An activation's ``build()`` returns the Keras name string, which is what Keras accepts as
``activation=``; nothing is imported. Skipped: ``threshold``, which needs required extra
arguments (``threshold``, ``default_value``) that a bare name cannot carry.
"""

from __future__ import annotations

from typing import Any

from netdsl.vocab.components import Activation, Shape, ShapeProblem, keras_value
from netdsl.vocab.hookspecs import Register, hookimpl

__all__ = ["ACTIVATIONS", "register_activations"]


def _activation(
    name: str, description: str, aliases: tuple[str, ...] = (), shape: Any = None
) -> Activation:
    """An activation Keras knows by ``name``."""
    return Activation(
        name=name, description=description, aliases=aliases, build=keras_value(name), shape=shape
    )


_GLU_LAYER: Any = None


def _glu_layer() -> Any:
    """``glu`` as a Keras layer whose ``compute_output_shape`` halves the last axis, as its call
    does (Keras's own layers assume an activation keeps the shape)."""
    global _GLU_LAYER
    if _GLU_LAYER is None:
        import keras

        @keras.saving.register_keras_serializable(package="netdsl")
        class GLU(keras.layers.Layer):
            """Gated linear unit over the last axis: a * sigmoid(b) for its two halves."""

            def call(self, x: Any) -> Any:
                return keras.activations.glu(x)

            def compute_output_shape(self, shape: Any) -> Any:
                return (*shape[:-1], None if shape[-1] is None else shape[-1] // 2)

        _GLU_LAYER = GLU
    return _GLU_LAYER()


def _halve_last(shape: Shape) -> Shape:
    """``glu``: the last axis is split in two halves, a * sigmoid(b)."""
    n = shape[-1] if shape else None
    if n is not None and n % 2:
        raise ShapeProblem(
            f"`glu` splits the last axis in two halves, and it has {n} values",
            help="give the layer an even number of outputs",
        )
    return (*shape[:-1], None if n is None else n // 2)


#: every built-in activation, in the order ``netdsl`` lists them
ACTIVATIONS: tuple[Activation, ...] = (
    _activation("relu", "rectified linear unit: max(x, 0)"),
    _activation("relu6", "relu capped at 6: min(max(x, 0), 6)"),
    _activation("leaky_relu", "leaky relu: x if x > 0 else 0.2 * x"),
    _activation("elu", "exponential linear unit: x if x > 0 else exp(x) - 1"),
    _activation("selu", "scaled exponential linear unit (self-normalising networks)"),
    _activation("celu", "continuously differentiable elu: max(x, 0) + min(0, exp(x) - 1)"),
    _activation("gelu", "Gaussian error linear unit: x * P(X <= x) for X ~ N(0, 1)"),
    _activation("silu", "sigmoid linear unit (swish): x * sigmoid(x)", aliases=("swish",)),
    _activation("hard_silu", "piecewise-linear approximation of silu", aliases=("hard_swish",)),
    _activation("mish", "x * tanh(softplus(x))"),
    _activation("sigmoid", "logistic sigmoid: 1 / (1 + exp(-x)), outputs in (0, 1)"),
    _activation("hard_sigmoid", "piecewise-linear approximation of sigmoid"),
    _activation("log_sigmoid", "logarithm of the sigmoid: -softplus(-x)"),
    _activation("sparse_sigmoid", "sigmoid-like curve that reaches exactly 0 and 1"),
    _activation("tanh", "hyperbolic tangent, outputs in (-1, 1)"),
    _activation("hard_tanh", "tanh clipped linearly: max(-1, min(x, 1))"),
    _activation("softmax", "normalised exponentials over the last axis (class probabilities)"),
    _activation("log_softmax", "logarithm of softmax over the last axis"),
    _activation("sparsemax", "Euclidean projection onto the simplex (sparse probabilities)"),
    _activation("softplus", "smooth relu: log(exp(x) + 1)"),
    _activation("softsign", "x / (abs(x) + 1)"),
    _activation("sparse_plus", "piecewise smooth relu: 0, (x + 1)^2 / 4 or x"),
    _activation("squareplus", "smooth relu: (x + sqrt(x^2 + 4)) / 2"),
    _activation("exponential", "exp(x)"),
    _activation("linear", "identity: x unchanged (no activation)"),
    Activation(
        name="glu",
        description="gated linear unit: halves the last axis, a * sigmoid(b)",
        build=_glu_layer,
        shape=_halve_last,
    ),
    _activation("soft_shrink", "soft shrinkage: x - 0.5 if x > 0.5, x + 0.5 if x < -0.5, else 0"),
    _activation("hard_shrink", "hard shrinkage: x if abs(x) > 0.5 else 0"),
    _activation("tanh_shrink", "x - tanh(x)"),
)


@hookimpl
def register_activations(register: Register) -> None:
    """Register every built-in activation."""
    for activation in ACTIVATIONS:
        register(activation)
