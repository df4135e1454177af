"""The checked graph's nodes: one per layer, as plain data for every later stage.

Every name is resolved to its declaration (``Node.component``), every argument bound, every
shape and parameter count known. The plan (:mod:`netdsl.plan`) holds them with the effective
settings; the compiler, summary, training and exporters read it and never consult the
registry or edit the IR again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import Span
from ..vocab.components import Layer, Ref, Shape, Target, to_json

__all__ = ["GraphInput", "GraphOutput", "Node", "Shape", "format_shape"]


def format_shape(shape: Sequence[Any] | None) -> str:
    """``(None, 784)``-style text the way Keras prints shapes (batch axis first)."""
    if shape is None:
        return "?"
    dims = ", ".join("None" if d is None else str(d) for d in (None, *shape))
    return f"({dims})"


@dataclass(frozen=True)
class Node:
    """One layer. ``inputs`` are node indices (``-1`` is the model input, ``-1 - i`` a graph's
    input ``i`` in the plan's ``inputs`` order; ``()`` means the model input too, for the first
    layer); ``inner`` is the layer a wrapper encloses; ``provider`` names the plugin whose
    declaration (and shape rule) it is; ``shares`` is the node whose layer (weights) this one
    calls again (a shared chain's later use: its ``params`` are 0), None for its own layer."""

    index: int
    layer: str
    args: tuple[tuple[str, Any], ...]
    inputs: tuple[int, ...]
    input_shape: Any
    output_shape: Shape
    params: int
    text: str
    span: Span | None = field(default=None, compare=False)
    implicit: bool = False
    depth: int = 0
    inner: Node | None = None
    component: Layer | None = field(default=None, compare=False, repr=False)
    provider: str = field(default="", compare=False)
    shares: int | None = None

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    @classmethod
    def make(cls, *values: Any) -> Node:
        """A node from all its field values in order, without the frozen dataclass's slower
        ``__init__`` (the checker makes up to 100,000 of them)."""
        node = object.__new__(cls)
        node.__dict__.update(zip(_NODE_FIELDS, values))
        return node

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "layer": self.layer,
            "text": self.text,
            "args": {k: to_json(v) for k, v in self.args},
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "implicit": self.implicit,
            "depth": self.depth,
            "inner": self.inner.to_dict() if self.inner else None,
            "provider": self.provider,
            "span": self.span.to_dict() if self.span else None,
            **({"shares": self.shares} if self.shares is not None else {}),
        }


_NODE_FIELDS = tuple(f.name for f in fields(Node))


@dataclass(frozen=True)
class GraphInput:
    """One input of a graph: its name (the dataset's), ``node`` (the reference nodes use for
    it, ``-1 - i``), one example's shape, and the dataset's dtype and kind for it."""

    name: str
    node: int
    shape: Shape
    dtype: str = "float32"
    kind: str = "numeric"
    vocabulary: int | None = None  # ids below this (a routed text column's token ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node": self.node,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "kind": self.kind,
            **({"vocabulary": self.vocabulary} if self.vocabulary is not None else {}),
        }


@dataclass(frozen=True)
class GraphOutput:
    """One output of a graph: its name (the dataset's target's), the node that computes it,
    its shape, the target it trains on, and its own loss, metrics, loss weight and label
    encoding (``labels`` as the plan's: "categorical", "sparse" or "any")."""

    name: str
    node: int
    shape: Shape
    target: Target
    loss: Ref | None
    metrics: tuple[Ref, ...]
    loss_weight: float = 1.0
    labels: str = "any"
    class_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node": self.node,
            "shape": list(self.shape),
            "target": self.target.to_json(),
            "loss": to_json(self.loss),
            "metrics": [to_json(m) for m in self.metrics],
            "loss_weight": self.loss_weight,
            "labels": self.labels,
        }
