"""Cross-parameter rules and shape helpers the built-in declarations share.

Each rule is a :data:`netdsl.vocab.components.Rule`: the bound arguments in, a
:class:`~netdsl.vocab.components.Violation` out for every argument Keras would refuse when it builds or
steps the model, so ``check`` refuses it first, at that argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from netdsl.vocab.components import Activation, Ref, Rule, Shape, ShapeProblem, Violation

__all__ = [
    "SEED_MAX",
    "activated",
    "initializer_ranks",
    "matrix_regularizers",
    "shape_keeping_activations",
]


#: the largest layer ``seed=`` (Keras's seed generators take 32-bit seeds; like the `seed:` setting)
SEED_MAX = 2**32 - 1

#: initializers that need a weight of at least / exactly this rank (Keras refuses others at build)
_INIT_RANKS: Mapping[str, tuple[int, int | None, str]] = {
    "identity": (2, 2, "an identity matrix needs a 2-D weight"),
    "orthogonal": (2, None, "an orthogonal initializer needs a weight of 2 or more dimensions"),
}
#: regularizers that only take 2-D weights (Keras raises when the step computes the penalty)
_MATRIX_REGULARIZERS = frozenset({"orthogonal_regularizer"})


def activated(shape: Shape, activation: Any) -> Shape:
    """The output shape after ``activation`` (a bound Ref or None): most keep the shape; one
    whose declaration has a ``shape`` rule (``glu`` halves the last axis) changes it."""
    component = activation.component if isinstance(activation, Ref) else None
    if isinstance(component, Activation) and component.shape is not None:
        try:
            return tuple(component.shape(tuple(shape)))
        except ShapeProblem as p:
            raise ShapeProblem(p.message, p.param or "activation", p.help) from None
    return shape


def shape_keeping_activations(*params: str) -> Rule:
    """A rule: these activations run inside the layer (recurrent cells), so they must keep the
    shape (``glu`` cannot be an LSTM's activation)."""

    def rule(args: Mapping[str, Any]) -> Iterable[Violation]:
        for name in params:
            ref = args.get(name)
            if (
                isinstance(ref, Ref)
                and isinstance(ref.component, Activation)
                and ref.component.shape
            ):
                yield Violation(
                    name,
                    f"`{ref.name}` changes the shape of what it is applied to, and "
                    "this activation runs inside the layer's cell",
                    help="use an activation that keeps the shape, e.g. `tanh`",
                )

    return rule


def initializer_ranks(**ranks: int) -> Rule:
    """A rule: each named initializer parameter fills a weight of the given rank (bias: 1,
    dense kernel: 2, conv2d kernel: 4); ``identity`` and ``orthogonal`` need 2-D weights."""

    def rule(args: Mapping[str, Any]) -> Iterable[Violation]:
        for name, rank in ranks.items():
            need = _INIT_RANKS.get(args.get(name))  # type: ignore[arg-type]
            if need is None:
                continue
            low, high, why = need
            if rank < low or (high is not None and rank > high):
                yield Violation(
                    name,
                    f"{why}, and `{name}` fills a {rank}-D weight",
                    help="use e.g. `glorot_uniform`, or `zeros` for a bias",
                )

    return rule


def matrix_regularizers(**ranks: int) -> Rule:
    """A rule: each named regularizer parameter sees a tensor of the given rank (with the batch
    axis for ``activity_regularizer``); ``orthogonal_regularizer`` takes only 2-D ones."""

    def rule(args: Mapping[str, Any]) -> Iterable[Violation]:
        for name, rank in ranks.items():
            ref = args.get(name)
            if isinstance(ref, Ref) and ref.name in _MATRIX_REGULARIZERS and rank != 2:
                yield Violation(
                    name,
                    f"`{ref.name}` works on 2-D weights, and `{name}` regularizes "
                    f"a {rank}-D tensor",
                    help="use `l2` or `l1` here, or put it on a dense layer's kernel",
                )
            elif (
                isinstance(ref, Ref)
                and ref.name in _MATRIX_REGULARIZERS
                and name == "activity_regularizer"
            ):
                # found by the fuzz's graph-mode fit: eager steps work, `netdsl run`'s do not
                yield Violation(
                    name,
                    f"`{ref.name}` on the activity is a matrix over the batch, whose "
                    "size Keras does not know in the compiled training step",
                    help="use `l2` or `l1` here, or put it on a dense layer's kernel",
                )

    return rule
