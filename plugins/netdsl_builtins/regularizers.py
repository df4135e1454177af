"""Built-in weight regularizers: Keras 3's ``l1``, ``l2``, ``l1_l2`` and ``orthogonal_regularizer``.

``build(**kwargs)`` returns the Keras regularizer (``keras.regularizers.L2(l2=0.01)``),
importing Keras only when called. The factor is positional: ``l2(0.01)``, ``l1_l2(0.01, 0.02)``.
"""

from __future__ import annotations

from netdsl.vocab import types as T
from netdsl.vocab.components import Param, Regularizer, keras_factory
from netdsl.vocab.hookspecs import Register, hookimpl

__all__ = ["REGULARIZERS", "register_regularizers"]

_FACTOR = T.Float(min=0)  # Keras refuses negative (and non-finite) penalty factors


def _regularizer(name: str, keras_class: str, description: str, *params: Param) -> Regularizer:
    """A regularizer built as ``keras.regularizers.<keras_class>(**kwargs)``."""
    return Regularizer(
        name=name,
        params=params,
        description=description,
        build=keras_factory(f"regularizers.{keras_class}"),
    )


#: every built-in regularizer
REGULARIZERS: tuple[Regularizer, ...] = (
    _regularizer(
        "l1",
        "L1",
        "penalty l1 * sum(abs(w)): drives weights to exactly zero",
        Param("l1", _FACTOR, 0.01, positional=True, help="the L1 factor"),
    ),
    _regularizer(
        "l2",
        "L2",
        "penalty l2 * sum(w^2) (weight decay): keeps weights small",
        Param("l2", _FACTOR, 0.01, positional=True, help="the L2 factor"),
    ),
    _regularizer(
        "l1_l2",
        "L1L2",
        "both penalties: l1 * sum(abs(w)) + l2 * sum(w^2)",
        Param("l1", _FACTOR, 0.0, positional=True, help="the L1 factor"),
        Param("l2", _FACTOR, 0.0, positional=True, help="the L2 factor"),
    ),
    _regularizer(
        "orthogonal_regularizer",
        "OrthogonalRegularizer",
        "penalty pushing a kernel's rows (or columns) to be orthogonal",
        Param("factor", _FACTOR, 0.01, positional=True, help="the penalty factor"),
        Param(
            "mode",
            T.Choice(("rows", "columns")),
            "rows",
            help="make the rows or the columns orthogonal",
        ),
    ),
)


@hookimpl
def register_regularizers(register: Register) -> None:
    """Register every built-in regularizer."""
    for regularizer in REGULARIZERS:
        register(regularizer)
