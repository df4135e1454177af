"""The IR: frozen dataclasses for a parsed program, each node with its source span.

The IR is syntax only (no names resolved). ``Program.to_dict()`` gives plain JSON data in the
shape documented in the README; ``Program.from_dict()`` reads it back. Spans never take part
in equality, so ``parse(format(p)) == p``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Union

from .errors import Span

__all__ = [
    "Node", "Int", "Float", "Bool", "Str", "Name", "Shape", "Tuple", "List", "Call", "Arg",
    "Value", "Layer", "Repeat", "Branches", "Chain", "Step", "Setting", "BlockDef", "Comment", "Program",
]


def _span() -> Any:
    return field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Node:
    """Base of every IR node; ``type`` names it in the JSON form."""

    type: ClassVar[str] = "node"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            out[f.name] = _encode(getattr(self, f.name))
        return out


def _encode(value: Any) -> Any:
    if isinstance(value, Node):
        return value.to_dict()
    if isinstance(value, Span):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


# --- values -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Int(Node):
    type: ClassVar[str] = "int"
    value: int
    span: Span | None = _span()


@dataclass(frozen=True)
class Float(Node):
    type: ClassVar[str] = "float"
    value: float
    span: Span | None = _span()


@dataclass(frozen=True)
class Bool(Node):
    type: ClassVar[str] = "bool"
    value: bool
    span: Span | None = _span()


@dataclass(frozen=True)
class Str(Node):
    type: ClassVar[str] = "str"
    value: str
    span: Span | None = _span()


@dataclass(frozen=True)
class Name(Node):
    type: ClassVar[str] = "name"
    value: str
    span: Span | None = _span()


@dataclass(frozen=True)
class Shape(Node):
    """``28x28x1``: two or more positive dimensions joined by ``x``."""

    type: ClassVar[str] = "shape"
    dims: tuple[int, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Tuple(Node):
    type: ClassVar[str] = "tuple"
    items: tuple["Value", ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class List(Node):
    type: ClassVar[str] = "list"
    items: tuple["Value", ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Arg(Node):
    """One argument: positional (``key`` is None) or ``key=value``."""

    type: ClassVar[str] = "arg"
    value: "Value"
    key: str | None = None
    span: Span | None = _span()
    key_span: Span | None = _span()


@dataclass(frozen=True)
class Call(Node):
    """``l2(0.01)``, ``adam(learning_rate=1e-3)``: a name with arguments."""

    type: ClassVar[str] = "call"
    name: str
    args: tuple[Arg, ...]
    span: Span | None = _span()
    name_span: Span | None = _span()


Value = Union[Int, Float, Bool, Str, Name, Shape, Tuple, List, Call]


# --- network ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer(Node):
    """``NAME arg*``, or the call form ``NAME(arg, ..., chain, ...)`` used for blocks and wrappers.

    ``body`` holds the chains a wrapper such as ``residual(...)`` encloses; ``call`` records
    that the call form was written (``conv(32)``), so the formatter writes it back the same way.
    """

    type: ClassVar[str] = "layer"
    name: str
    args: tuple[Arg, ...] = ()
    body: tuple["Chain", ...] = ()
    call: bool = False
    span: Span | None = _span()
    name_span: Span | None = _span()


@dataclass(frozen=True)
class Repeat(Node):
    """``(chain) * times`` (``times`` 1 for a plain group)."""

    type: ClassVar[str] = "repeat"
    chain: "Chain"
    times: int
    span: Span | None = _span()
    times_span: Span | None = _span()


@dataclass(frozen=True)
class Branches(Node):
    """``[chain | chain | ...] merge``: parallel chains from one input, merged by a layer."""

    type: ClassVar[str] = "branches"
    chains: tuple["Chain", ...]
    merge: str | None = None
    span: Span | None = _span()
    merge_span: Span | None = _span()


Step = Union[Layer, Repeat, Branches]


@dataclass(frozen=True)
class Chain(Node):
    """Steps joined by ``->``."""

    type: ClassVar[str] = "chain"
    steps: tuple[Step, ...]
    span: Span | None = _span()


# --- program ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting(Node):
    """``key: value``."""

    type: ClassVar[str] = "setting"
    key: str
    value: Value
    span: Span | None = _span()
    key_span: Span | None = _span()


@dataclass(frozen=True)
class BlockDef(Node):
    """``block NAME(param, ...) = chain``: a parametrised chain used like a layer."""

    type: ClassVar[str] = "block"
    name: str
    params: tuple[str, ...]
    body: Chain
    span: Span | None = _span()
    name_span: Span | None = _span()


@dataclass(frozen=True)
class Comment(Node):
    """``# text`` (kept so that ``netdsl fmt`` loses nothing); never part of equality."""

    type: ClassVar[str] = "comment"
    text: str
    span: Span | None = _span()


@dataclass(frozen=True)
class Program(Node):
    """A whole file: settings, block definitions and (at most) one network."""

    type: ClassVar[str] = "program"
    settings: tuple[Setting, ...] = ()
    blocks: tuple[BlockDef, ...] = ()
    network: Chain | None = None
    filename: str | None = field(default=None, compare=False)
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
    source: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (see the README's "IR" section); ``source`` is left out."""
        return {
            "type": "program",
            "version": 1,
            "filename": self.filename,
            "settings": [s.to_dict() for s in self.settings],
            "blocks": [b.to_dict() for b in self.blocks],
            "network": self.network.to_dict() if self.network else None,
            "comments": [c.to_dict() for c in self.comments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Program":
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on data of another shape."""
        if not isinstance(data, dict) or data.get("type") != "program":
            raise ValueError("not a netdsl program: expected an object with type 'program'")
        return _decode(data, data.get("filename"))  # type: ignore[return-value]

    def setting(self, key: str) -> Setting | None:
        for s in self.settings:
            if s.key == key:
                return s
        return None


_NODE_TYPES: dict[str, type[Node]] = {
    cls.type: cls
    for cls in (Int, Float, Bool, Str, Name, Shape, Tuple, List, Call, Arg, Layer, Repeat,
                Branches, Chain, Setting, BlockDef, Comment, Program)
}
_SPAN_FIELDS = {"span", "name_span", "key_span", "times_span", "merge_span"}


def _decode(data: Any, file: str | None) -> Any:
    if isinstance(data, list):
        return tuple(_decode(d, file) for d in data)
    if not isinstance(data, dict):
        return data
    cls = _NODE_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown IR node type {data.get('type')!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name == "source" or f.name not in data:
            continue
        raw = data[f.name]
        if f.name in _SPAN_FIELDS:
            kwargs[f.name] = Span.from_dict(raw, file) if raw is not None else None
        elif f.name in ("dims", "params"):
            kwargs[f.name] = tuple(raw)
        else:
            kwargs[f.name] = _decode(raw, file)
    return cls(**kwargs)
