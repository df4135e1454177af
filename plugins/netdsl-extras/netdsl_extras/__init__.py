"""netdsl-extras: an example third-party netdsl plugin (``max_norm_dense``, ``weight_decay``).

Both components build standard Keras objects (``keras.layers.Dense`` with a ``MaxNorm``
constraint, ``keras.regularizers.L2``), so a saved ``.keras`` model reloads without this
package. Keras is imported only inside ``build``, never when netdsl loads the plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Regularizer, Shape, ShapeProblem
from netdsl.vocab.hookspecs import Register, hookimpl

__all__ = ["MAX_NORM_DENSE", "WEIGHT_DECAY", "register_layers", "register_regularizers"]
__version__ = "0.1.0"


def _max_norm_dense_infer(shape: Shape, a: Mapping[str, Any]) -> tuple[Shape, int]:
    """Same shape rule as ``dense``: the last axis becomes ``units``; weights n*units (+ units)."""
    n = shape[-1]
    if n is None:
        raise ShapeProblem(
            "max_norm_dense needs a known input size", help="give the input a fixed size"
        )
    units = a["units"]
    return (*shape[:-1], units), n * units + (units if a["use_bias"] else 0)


def _build_max_norm_dense(*, max_value: float, **kwargs: Any) -> Any:
    """``keras.layers.Dense(**kwargs, kernel_constraint=MaxNorm(max_value, axis=0))``."""
    import keras

    constraint = keras.constraints.MaxNorm(max_value=max_value, axis=0)
    return keras.layers.Dense(kernel_constraint=constraint, **kwargs)


def _build_weight_decay(*, rate: float) -> Any:
    """``keras.regularizers.L2(rate / 2)``: its gradient is ``rate * w``, i.e. decay by ``rate``."""
    import keras

    return keras.regularizers.L2(l2=rate / 2)


MAX_NORM_DENSE = Layer(
    name="max_norm_dense",
    description=(
        "dense layer whose weights into each unit are rescaled after every step to an "
        "L2 norm of at most max_value (the max-norm constraint used with dropout)"
    ),
    params=(
        Param("units", T.Int(min=1), positional=True, help="number of outputs"),
        Param("activation", T.Ref("activation"), None, positional=True),
        Param(
            "max_value",
            T.Float(min=0, min_open=True),
            3.0,
            positional=True,
            help="largest L2 norm of one unit's incoming weights (3 to 4 is usual)",
        ),
        Param("use_bias", T.Bool(), True),
        Param("kernel_regularizer", T.Ref("regularizer"), None, positional=True),
    ),
    infer=_max_norm_dense_infer,
    accepts="vector",
    build=_build_max_norm_dense,
)

WEIGHT_DECAY = Regularizer(
    name="weight_decay",
    description=(
        "weight decay with the rate papers quote: penalty rate/2 * sum(w^2), whose "
        "gradient rate * w shrinks each weight by rate per step (same as l2(rate/2))"
    ),
    params=(
        Param("rate", T.Float(min=0), 5e-4, positional=True, help="decay rate, e.g. 1e-4 or 5e-4"),
    ),
    build=_build_weight_decay,
)


@hookimpl
def register_layers(register: Register) -> None:
    """Register ``max_norm_dense``."""
    register(MAX_NORM_DENSE)


@hookimpl
def register_regularizers(register: Register) -> None:
    """Register ``weight_decay``."""
    register(WEIGHT_DECAY)
