"""``netdsl summary --flops``: multiply-accumulates (MACs) per layer and in total, pure Python.

Each layer declaration may say its cost for one example (``Layer.macs``); the core only calls
it with the shapes the checker inferred, so a plugin's layer gets a figure as soon as it
declares one. A layer with no rule, or whose rule fails or gets an unknown size, has no figure,
and the total says how many such layers it leaves out. FLOPs are about twice the MACs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..checking.graph import Node
from ..checking.plan import CheckedModel
from ..vocab.components import Layer, Shape

__all__ = ["MacsReport", "model_macs", "node_macs"]


def _rule(component: Layer | None) -> Callable[..., int] | None:
    return component.macs if component is not None else None


def _inner_macs(inner: Node) -> Callable[[Shape], int]:
    """MACs of a wrapped layer for a given input shape (its output from its own shape rule)."""

    def macs(shape: Shape) -> int:
        component = inner.component
        rule = _rule(component)
        if component is None or rule is None:
            raise LookupError(f"`{inner.layer}` declares no MACs rule")
        out, _ = component.infer(tuple(shape), inner.kwargs)
        return int(rule(tuple(shape), tuple(out), inner.kwargs))

    return macs


def node_macs(node: Node) -> int | None:
    """The MACs of one layer for one example, or None when its declaration cannot say."""
    rule = _rule(node.component)
    if rule is None:
        return None
    extra: dict[str, Any] = {}
    if node.inner is not None:
        extra["inner"] = _inner_macs(node.inner)
    try:
        value = rule(node.input_shape, tuple(node.output_shape), node.kwargs, **extra)
    except Exception:  # noqa: BLE001 - unknown sizes or a missing inner rule: no figure, counted
        return None
    return int(value) if isinstance(value, int) and value >= 0 else None


class MacsReport:
    """Per-layer MACs (None where unknown) and their total."""

    def __init__(self, model: CheckedModel) -> None:
        self.per_layer: list[int | None] = [node_macs(n) for n in model.nodes]
        self.total = sum(m for m in self.per_layer if m is not None)
        self.unknown = [n.index for n, m in zip(model.nodes, self.per_layer) if m is None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_layer": self.per_layer,
            "total_macs": self.total,
            "unknown_layers": self.unknown,
        }


def model_macs(model: CheckedModel) -> MacsReport:
    """MACs of every layer of ``model`` and the total."""
    return MacsReport(model)
