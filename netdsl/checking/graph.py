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
from ..vocab.components import Layer, Shape, to_json

__all__ = ["Node", "Shape", "format_shape"]


def format_shape(shape: Sequence[Any] | None) -> str:
    """``(None, 784)``-style text the way Keras prints shapes (batch axis first)."""
    if shape is None:
        return "?"
    dims = ", ".join("None" if d is None else str(d) for d in (None, *shape))
    return f"({dims})"


@dataclass(frozen=True)
class Node:
    """One layer. ``inputs`` are node indices (``-1`` is the model input; ``()`` means the model
    input too, for the first layer); ``inner`` is the layer a wrapper encloses; ``provider`` names
    the plugin whose declaration (and shape rule) it is."""

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
        }


_NODE_FIELDS = tuple(f.name for f in fields(Node))
