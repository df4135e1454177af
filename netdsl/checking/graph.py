"""The checked graph: what ``check`` decides, as plain data for every later stage.

Every name is resolved to its declaration (``Node.component``, ``Ref.component``), every
argument bound, every shape and parameter count known, and the effective settings and the
dataset's answers recorded. The compiler, summary, training and exporters read this and never
consult the registry or edit the IR again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import Span
from ..lang import ir
from ..vocab.components import DataInfo, Layer, Ref, Shape, to_json
from ..vocab.settings import Settings

__all__ = ["CheckedModel", "Node", "Shape", "format_shape"]



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
            "index": self.index, "layer": self.layer, "text": self.text,
            "args": {k: to_json(v) for k, v in self.args},
            "inputs": list(self.inputs), "output_shape": list(self.output_shape),
            "params": self.params, "implicit": self.implicit, "depth": self.depth,
            "inner": self.inner.to_dict() if self.inner else None,
            "provider": self.provider,
            "span": self.span.to_dict() if self.span else None,
        }


_NODE_FIELDS = tuple(f.name for f in fields(Node))


@dataclass(frozen=True)
class CheckedModel:
    """A program with every name resolved, every argument bound and every shape known.

    ``settings`` holds the effective value of every setting (defaults and the dataset's answers
    filled in); ``data`` is what the dataset said about itself; ``labels`` is how the loss wants
    the targets encoded ("categorical" one-hot rows or "sparse" class ids, "any" as given).
    """

    program: ir.Program
    nodes: tuple[Node, ...]
    settings: Settings
    data: DataInfo
    labels: str

    @property
    def input_shape(self) -> Shape:
        return tuple(self.settings["input"])

    @property
    def output_shape(self) -> Shape:
        return self.nodes[-1].output_shape if self.nodes else self.input_shape

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def dataset(self) -> Ref:
        return self.settings["dataset"]

    def replace(self, **changes: Any) -> CheckedModel:
        """A copy with some settings changed (``netdsl run --epochs 2``), validated by the table."""
        from dataclasses import replace

        from ..errors import NetdslSettingError
        from ..vocab.settings import TABLE

        for key in changes:
            if key in TABLE and TABLE[key].stage != "train":
                raise NetdslSettingError(f"`{key}` decides what the model is; change it in the program",
                                         code="NDL004")
        return replace(self, settings=self.settings.replace(**changes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.program.filename,
            "settings": self.settings.to_dict(),
            "data": self.data.to_json(),
            "labels": self.labels,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [n.to_dict() for n in self.nodes],
            "total_params": self.total_params,
        }
