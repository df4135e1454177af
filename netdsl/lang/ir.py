"""The IR: frozen dataclasses for a parsed program, each node with its source span.

The IR is syntax only (no names resolved). ``Program.to_dict()`` gives plain JSON data in the
shape documented in the README; ``Program.from_dict()`` reads it back. Spans never take part
in equality, so ``parse(format(p)) == p``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..errors import NetdslIRError, Span

__all__ = [
    "Arg",
    "Binding",
    "BlockDef",
    "Bool",
    "Branches",
    "Call",
    "Chain",
    "Comment",
    "Float",
    "Int",
    "Layer",
    "List",
    "Map",
    "Name",
    "NetdslIRError",
    "Node",
    "Program",
    "Repeat",
    "Setting",
    "Shape",
    "Step",
    "Str",
    "Tuple",
    "Use",
    "Value",
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
    items: tuple[Value, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class List(Node):
    type: ClassVar[str] = "list"
    items: tuple[Value, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Arg(Node):
    """One argument: positional (``key`` is None) or ``key=value``."""

    type: ClassVar[str] = "arg"
    value: Value
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


@dataclass(frozen=True)
class Map(Node):
    """``{digit: 1.0, odd: 0.5}``: a value per name (per-output settings); each item is an
    :class:`Arg` with its ``key`` set, so a key keeps its own span."""

    type: ClassVar[str] = "map"
    items: tuple[Arg, ...]
    span: Span | None = _span()

    def get(self, key: str) -> Value | None:
        """The value written for ``key`` (the first, if written twice)."""
        return next((a.value for a in self.items if a.key == key), None)


Value = Int | Float | Bool | Str | Name | Shape | Tuple | List | Call | Map


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
    body: tuple[Chain, ...] = ()
    call: bool = False
    span: Span | None = _span()
    name_span: Span | None = _span()


@dataclass(frozen=True)
class Repeat(Node):
    """``(chain) * times`` (``times`` 1 for a plain group). ``times_space`` holds a search
    space's count (``* choice(1, 2, 3)``, ``times`` then 1); ``netdsl.search`` resolves it."""

    type: ClassVar[str] = "repeat"
    chain: Chain
    times: int
    span: Span | None = _span()
    times_span: Span | None = _span()
    times_space: Call | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.times_space is None:  # the JSON of a plain repeat is what it always was
            del out["times_space"]
        return out


@dataclass(frozen=True)
class Branches(Node):
    """``[chain | chain | ...] merge``: parallel chains from one input, merged by a layer."""

    type: ClassVar[str] = "branches"
    chains: tuple[Chain, ...]
    merge: str | None = None
    span: Span | None = _span()
    merge_span: Span | None = _span()
    #: the merge layer's arguments (``[q | kv] attention 4 32``)
    merge_args: tuple[Arg, ...] = ()


Step = Layer | Repeat | Branches


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


#: what a binding names: a tensor (``e1 = ...``), an output (``output digit = ...``), or a
#: chain of layers with one set of weights (``shared tower = ...``)
BINDING_KINDS = ("tensor", "output", "shared")


@dataclass(frozen=True)
class Binding(Node):
    """``NAME = chain``, ``output NAME = chain`` or ``shared NAME = chain`` (``kind`` says which;
    see :data:`BINDING_KINDS`). Syntax only: which names are tensors is decided by the checker."""

    type: ClassVar[str] = "binding"
    name: str
    chain: Chain
    kind: str = "tensor"
    span: Span | None = _span()
    name_span: Span | None = _span()


@dataclass(frozen=True)
class Use(Node):
    """``use "lib/blocks.net"``: import the blocks of another file (relative to this one)."""

    type: ClassVar[str] = "use"
    path: str
    span: Span | None = _span()
    path_span: Span | None = _span()


@dataclass(frozen=True)
class Comment(Node):
    """``# text`` (kept so that ``netdsl fmt`` loses nothing); never part of equality."""

    type: ClassVar[str] = "comment"
    text: str
    span: Span | None = _span()


@dataclass(frozen=True)
class Program(Node):
    """A whole file: settings, block definitions, named chains (``bindings``, in source order:
    tensors, outputs and shared chains of a graph) and (at most) one unnamed chain, the
    network: a chain program's only chain, a graph's last (its sole output, if unnamed)."""

    type: ClassVar[str] = "program"
    settings: tuple[Setting, ...] = ()
    blocks: tuple[BlockDef, ...] = ()
    network: Chain | None = None
    filename: str | None = field(default=None, compare=False)
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
    source: str | None = field(default=None, compare=False, repr=False)
    bindings: tuple[Binding, ...] = ()
    #: the libraries it imports (``use "file.net"``), in the order written
    uses: tuple[Use, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (see the README's "IR" section); ``source`` is left out."""
        return {
            "type": "program",
            "version": 1,
            "filename": self.filename,
            "uses": [u.to_dict() for u in self.uses],
            "settings": [s.to_dict() for s in self.settings],
            "blocks": [b.to_dict() for b in self.blocks],
            "network": self.network.to_dict() if self.network else None,
            "comments": [c.to_dict() for c in self.comments],
            **({"bindings": [b.to_dict() for b in self.bindings]} if self.bindings else {}),
        }

    @property
    def is_graph(self) -> bool:
        """Whether the program names anything (a graph); a chain program has no bindings."""
        return bool(self.bindings)

    @classmethod
    def from_dict(cls, data: Any) -> Program:
        """Inverse of :meth:`to_dict`. Any data of another shape (a wrong type, a missing or
        unknown field, a value the text form cannot hold) raises :class:`NetdslIRError`, a
        ``ValueError``; nothing else."""
        if not isinstance(data, dict) or data.get("type") != "program":
            raise NetdslIRError("not a netdsl program: expected an object with type 'program'")
        filename = data.get("filename")
        if filename is not None and not isinstance(filename, str):
            raise NetdslIRError("filename: expected a string or null")
        try:
            return _Decoder(filename).node(data, "program", (Program,))  # type: ignore[return-value]
        except RecursionError:
            raise NetdslIRError("the data nests too deeply to be a netdsl program") from None

    def setting(self, key: str) -> Setting | None:
        for s in self.settings:
            if s.key == key:
                return s
        return None


_NODE_TYPES: dict[str, type[Node]] = {
    cls.type: cls
    for cls in (
        Int,
        Float,
        Bool,
        Str,
        Name,
        Shape,
        Tuple,
        List,
        Map,
        Call,
        Arg,
        Layer,
        Repeat,
        Branches,
        Chain,
        Setting,
        BlockDef,
        Binding,
        Use,
        Comment,
        Program,
    )
}
_SPAN_FIELDS = {"span", "name_span", "key_span", "times_span", "merge_span", "path_span"}
_SPAN_KEYS = ("start", "end", "line", "column", "end_line", "end_column")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESERVED = {"true", "false", "block", "use"}
#: words that start a binding at the start of a line, so no layer or block there may take them
_KEYWORDS = {"output", "shared"}
_VALUES: tuple[type[Node], ...] = (Int, Float, Bool, Str, Name, Shape, Tuple, List, Call, Map)
_STEPS: tuple[type[Node], ...] = (Layer, Repeat, Branches)
#: JSON nesting deeper than this is refused (the parser's 50 levels of brackets need ~250)
_MAX_JSON_DEPTH = 400
_MAX_INT = 10**18  # 18 digits, as the parser allows


class _Decoder:
    """Checks every field of every node against what the text form can hold, building the IR."""

    def __init__(self, file: str | None) -> None:
        self.file = file

    @staticmethod
    def fail(where: str, what: str) -> NetdslIRError:
        return NetdslIRError(f"{where}: {what}")

    def node(self, data: Any, where: str, allowed: tuple[type[Node], ...], depth: int = 0) -> Node:
        if depth > _MAX_JSON_DEPTH:
            raise self.fail(where, "nested too deeply")
        kinds = " or ".join(sorted({c.type for c in allowed}))
        if not isinstance(data, dict):
            raise self.fail(where, f"expected an object of type {kinds}, got {_json_kind(data)}")
        cls = _NODE_TYPES.get(data["type"]) if isinstance(data.get("type"), str) else None
        if cls is None or cls not in allowed:
            raise self.fail(
                where, f"expected an object of type {kinds}, got type {_short(data.get('type'))}"
            )
        known = (
            {f.name for f in fields(cls)} | {"type"} | ({"version"} if cls is Program else set())
        )
        extra = sorted(str(k) for k in data if k not in known)
        if extra:
            raise self.fail(where, f"unknown field {_short(extra[0])} in a {cls.type}")
        if cls is Program and (
            type(data.get("version", 1)) is not int or data.get("version", 1) != 1
        ):
            raise self.fail(
                where, f"version {_short(data.get('version'))} is not supported (only 1)"
            )
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "source":
                continue
            at = f"{where}.{f.name}"
            if f.name not in data:
                if f.name in _SPAN_FIELDS or f.name in _OPTIONAL.get(cls, ()):
                    continue
                raise self.fail(where, f"a {cls.type} needs the field `{f.name}`")
            raw = data[f.name]
            if f.name in _SPAN_FIELDS:
                kwargs[f.name] = None if raw is None else self.span(raw, at)
            else:
                kwargs[f.name] = _FIELDS[(cls, f.name)](self, raw, at, depth + 1)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as e:  # pragma: no cover - every field is checked above
            raise self.fail(where, str(e)) from None

    def span(self, raw: Any, where: str) -> Span:
        if not isinstance(raw, dict) or set(raw) != set(_SPAN_KEYS):
            raise self.fail(
                where, "a span is an object with start, end, line, column, end_line, end_column"
            )
        values = [raw[k] for k in _SPAN_KEYS]
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62 for v in values
        ):
            raise self.fail(where, "a span's fields are whole numbers from 0")
        start, end, line, column, end_line, end_column = values
        if end < start or end_line < line or min(line, column, end_line, end_column) < 1:
            raise self.fail(
                where, "a span must not end before it starts (lines and columns count from 1)"
            )
        return Span(start, end, line, column, end_line, end_column, self.file)

    def many(
        self, raw: Any, where: str, item: Callable[[Any, str], Any], least: int = 0
    ) -> tuple[Any, ...]:
        if not isinstance(raw, list):
            raise self.fail(where, f"expected a list, got {_json_kind(raw)}")
        if len(raw) < least:
            raise self.fail(where, f"expected at least {least} item{'s' if least > 1 else ''}")
        return tuple(item(x, f"{where}[{i}]") for i, x in enumerate(raw))


def _json_kind(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a boolean"
    if isinstance(x, (int, float)):
        return "a number"
    if isinstance(x, str):
        return "a string"
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "an object"
    return f"a {type(x).__name__}"


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(d: _Decoder, raw: Any, where: str, depth: int = 0) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise d.fail(where, f"expected a whole number, got {_json_kind(raw)}")
    if abs(raw) >= _MAX_INT:
        raise d.fail(where, "a whole number has at most 18 digits")
    return raw


def _float(d: _Decoder, raw: Any, where: str, depth: int = 0) -> float:
    if not isinstance(raw, (int, float)) or isinstance(raw, bool):
        raise d.fail(where, f"expected a number, got {_json_kind(raw)}")
    try:
        value = float(raw)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise d.fail(where, "a number must be finite")
    return value


def _bool(d: _Decoder, raw: Any, where: str, depth: int = 0) -> bool:
    if not isinstance(raw, bool):
        raise d.fail(where, f"expected true or false, got {_json_kind(raw)}")
    return raw


def _text(d: _Decoder, raw: Any, where: str, depth: int = 0) -> str:
    if not isinstance(raw, str):
        raise d.fail(where, f"expected a string, got {_json_kind(raw)}")
    if "\n" in raw or any(0xD800 <= ord(c) <= 0xDFFF for c in raw):
        raise d.fail(where, "a string cannot hold a line break or a lone surrogate")
    return raw


def _ident(d: _Decoder, raw: Any, where: str, depth: int = 0) -> str:
    if not isinstance(raw, str) or not _IDENT.match(raw) or raw in _RESERVED:
        raise d.fail(
            where,
            f"expected a name (letters, digits, `_`; not true/false/block), got {_short(raw)}",
        )
    return raw


def _key_ident(d: _Decoder, raw: Any, where: str, depth: int = 0) -> str:
    """A name that may not be a keyword either: a binding's, a block's, a setting's."""
    name = _ident(d, raw, where)
    if name in _KEYWORDS:
        raise d.fail(where, f"`{name}` is a keyword (it starts a binding); use another name")
    return name


def _kind(d: _Decoder, raw: Any, where: str, depth: int = 0) -> str:
    if raw not in BINDING_KINDS:
        raise d.fail(where, f"expected one of {', '.join(BINDING_KINDS)}, got {_short(raw)}")
    return str(raw)


def _map_items(d: _Decoder, raw: Any, where: str, depth: int = 0) -> tuple[Arg, ...]:
    items: tuple[Arg, ...] = _nodes(Arg)(d, raw, where, depth)
    for i, item in enumerate(items):
        if item.key is None:
            raise d.fail(f"{where}[{i}]", "a map's items are `key: value` (the key is needed)")
    return items


def _opt_ident(d: _Decoder, raw: Any, where: str, depth: int = 0) -> str | None:
    return None if raw is None else _ident(d, raw, where)


def _comment(d: _Decoder, raw: Any, where: str, depth: int = 0) -> str:
    text = _text(d, raw, where)
    if not text.startswith("#"):
        raise d.fail(where, "a comment starts with `#`")
    return text


def _dims(d: _Decoder, raw: Any, where: str, depth: int = 0) -> tuple[int, ...]:
    dims = d.many(raw, where, lambda x, w: _int(d, x, w), least=2)
    if any(x < 0 for x in dims):
        raise d.fail(where, "a shape's dimensions are whole numbers from 0")
    return dims


def _nodes(
    *allowed: type[Node], least: int = 0
) -> Callable[[_Decoder, Any, str, int], tuple[Any, ...]]:
    def read(d: _Decoder, raw: Any, where: str, depth: int) -> tuple[Any, ...]:
        return d.many(raw, where, lambda x, w: d.node(x, w, allowed, depth + 1), least)

    return read


def _one(*allowed: type[Node], optional: bool = False) -> Callable[[_Decoder, Any, str, int], Any]:
    def read(d: _Decoder, raw: Any, where: str, depth: int) -> Any:
        return None if optional and raw is None else d.node(raw, where, allowed, depth + 1)

    return read


def _params(d: _Decoder, raw: Any, where: str, depth: int = 0) -> tuple[str, ...]:
    return d.many(raw, where, lambda x, w: _ident(d, x, w))


def _filename(d: _Decoder, raw: Any, where: str, depth: int = 0) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise d.fail(where, f"expected a string or null, got {_json_kind(raw)}")
    return raw


_FIELDS: dict[tuple[type[Node], str], Callable[[_Decoder, Any, str, int], Any]] = {
    (Int, "value"): _int,
    (Float, "value"): _float,
    (Bool, "value"): _bool,
    (Str, "value"): _text,
    (Name, "value"): _ident,
    (Shape, "dims"): _dims,
    (Tuple, "items"): _nodes(*_VALUES, least=1),
    (List, "items"): _nodes(*_VALUES),
    (Map, "items"): _map_items,
    (Call, "name"): _ident,
    (Call, "args"): _nodes(Arg),
    (Arg, "value"): _one(*_VALUES),
    (Arg, "key"): _opt_ident,
    (Layer, "name"): _key_ident,
    (Layer, "args"): _nodes(Arg),
    (Layer, "body"): _nodes(Chain),
    (Layer, "call"): _bool,
    (Repeat, "chain"): _one(Chain),
    (Repeat, "times"): _int,
    (Repeat, "times_space"): _one(Call, optional=True),
    (Branches, "chains"): _nodes(Chain, least=2),
    (Branches, "merge"): _opt_ident,
    (Branches, "merge_args"): _nodes(Arg),
    (Chain, "steps"): _nodes(*_STEPS, least=1),
    (Setting, "key"): _key_ident,
    (Setting, "value"): _one(*_VALUES),
    (BlockDef, "name"): _key_ident,
    (BlockDef, "params"): _params,
    (BlockDef, "body"): _one(Chain),
    (Binding, "name"): _key_ident,
    (Binding, "chain"): _one(Chain),
    (Binding, "kind"): _kind,
    (Use, "path"): _text,
    (Comment, "text"): _comment,
    (Program, "settings"): _nodes(Setting),
    (Program, "blocks"): _nodes(BlockDef),
    (Program, "network"): _one(Chain, optional=True),
    (Program, "filename"): _filename,
    (Program, "comments"): _nodes(Comment),
    (Program, "bindings"): _nodes(Binding),
    (Program, "uses"): _nodes(Use),
}
#: fields that may be left out (their default is used), as in data written by hand
_OPTIONAL: dict[type[Node], tuple[str, ...]] = {
    Arg: ("key",),
    Layer: ("args", "body", "call"),
    Branches: ("merge", "merge_args"),
    Binding: ("kind",),
    Repeat: ("times_space",),
    Program: ("settings", "blocks", "network", "filename", "comments", "bindings", "uses"),
}
