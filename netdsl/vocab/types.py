"""Parameter types: each turns an IR value into a Python value or says, in words, what it wanted.

A type also tells the binder which positional forms it takes (``takes``) and which bare
names it claims (``claims``), which is how ``dense 64 relu l2`` binds without keywords.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from ..lang import ir

__all__ = [
    "Bool",
    "ByOutput",
    "Choice",
    "Float",
    "Int",
    "ListOf",
    "MapOf",
    "OneOf",
    "ParamType",
    "PerOutput",
    "Problem",
    "Quantity",
    "Ref",
    "ShapeT",
    "Size",
    "Str",
    "describe_value",
]


class Problem(Exception):
    """A value that does not fit its type; the binder adds the span and the parameter's name."""

    def __init__(
        self,
        message: str,
        expected: str | None = None,
        node: ir.Node | None = None,
        help: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.node = node
        self.help = help


class Names(Protocol):
    """What a parameter type asks of the registry: is a name there, and which names are."""

    def get(self, kind: str, name: str) -> Any: ...

    def names(self, kind: str, aliases: bool = False) -> list[str]: ...


class Binder(Protocol):
    @property
    def registry(self) -> Names: ...

    def bind_ref(self, kind: str, value: ir.Value) -> Any: ...


def describe_value(value: ir.Node) -> str:
    """Words for a value in an error message: "the number `1.5`", "the name `relu`"."""
    words = {
        ir.Int: "the integer",
        ir.Float: "the number",
        ir.Bool: "the boolean",
        ir.Str: "the string",
        ir.Name: "the name",
        ir.Shape: "the shape",
        ir.Tuple: "the tuple",
        ir.List: "the list",
        ir.Call: "the call",
        ir.Map: "the mapping",
    }
    from ..lang.formatter import format_value  # local: formatter imports types indirectly

    return f"{words.get(type(value), 'the value')} `{format_value(value)}`"


class ParamType:
    """Base type. ``label`` reads as a noun phrase: "an integer > 0"."""

    label = "a value"
    forms: tuple[type, ...] = ()

    def takes(self, value: ir.Value) -> bool:
        """Whether a positional literal of this form may fill a parameter of this type."""
        return isinstance(value, self.forms)

    def claims(self, name: str, binder: Binder) -> bool:
        """Whether a positional bare name (or call) binds to a parameter of this type."""
        return False

    def names(self, binder: Binder) -> list[str]:
        """Names this type accepts, for "did you mean" suggestions."""
        return []

    def convert(self, value: ir.Value, binder: Binder) -> Any:
        raise NotImplementedError

    def fail(self, value: ir.Value) -> Problem:
        return Problem(f"expected {self.label}, found {describe_value(value)}", self.label, value)


def _number(x: float) -> str:
    """A bound as people write it: ``1``, ``0.5``, ``16777216`` (integers in full)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e18 else f"{x:g}"


def _bound_words(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_number(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {_number(hi)}")
    return " and ".join(parts)


@dataclass(frozen=True)
class Int(ParamType):
    """An integer, optionally bounded: ``Int(min=1)``."""

    min: int | None = None
    max: int | None = None
    forms = (ir.Int,)

    @property
    def label(self) -> str:  # type: ignore[override]
        b = _bound_words(self.min, self.max, False, False)
        return "an integer" + (f" {b}" if b else "")

    def convert(self, value: ir.Value, binder: Binder) -> int:
        if not isinstance(value, ir.Int):
            raise self.fail(value)
        v = value.value
        if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
            raise Problem(f"{v} is out of range: expected {self.label}", self.label, value)
        return v


#: the largest float32: a number past it becomes infinity (or an error) in Keras's tensors
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Float(ParamType):
    """A real number (integers accepted), optionally bounded; ``*_open`` excludes the bound."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    forms = (ir.Int, ir.Float)

    @property
    def label(self) -> str:  # type: ignore[override]
        b = _bound_words(self.min, self.max, self.min_open, self.max_open)
        return "a number" + (f" {b}" if b else "")

    def convert(self, value: ir.Value, binder: Binder) -> float:
        if not isinstance(value, (ir.Int, ir.Float)):
            raise self.fail(value)
        v = float(value.value)
        if math.isfinite(v) and abs(v) > FLOAT32_MAX:
            raise Problem(
                f"{value.value} is beyond float32's range (±3.4e38), which Keras computes in",
                self.label,
                value,
            )
        bad = not math.isfinite(v)
        if self.min is not None:
            bad |= v <= self.min if self.min_open else v < self.min
        if self.max is not None:
            bad |= v >= self.max if self.max_open else v > self.max
        if bad:
            raise Problem(
                f"{value.value} is out of range: expected {self.label}", self.label, value
            )
        return v


@dataclass(frozen=True)
class Bool(ParamType):
    label = "`true` or `false`"
    forms = (ir.Bool,)

    def convert(self, value: ir.Value, binder: Binder) -> bool:
        if not isinstance(value, ir.Bool):
            raise self.fail(value)
        return value.value


@dataclass(frozen=True)
class Str(ParamType):
    label = "a string"
    forms = (ir.Str,)

    def convert(self, value: ir.Value, binder: Binder) -> str:
        if not isinstance(value, ir.Str):
            raise self.fail(value)
        return value.value


@dataclass(frozen=True)
class Choice(ParamType):
    """One of a fixed set of words, written bare (``same``) or quoted (``"same"``)."""

    choices: tuple[str, ...]
    forms = (ir.Str,)

    @property
    def label(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(f"`{c}`" for c in self.choices)

    def claims(self, name: str, binder: Binder) -> bool:
        return name in self.choices

    def names(self, binder: Binder) -> list[str]:
        return list(self.choices)

    def convert(self, value: ir.Value, binder: Binder) -> str:
        if isinstance(value, (ir.Name, ir.Str)) and value.value in self.choices:
            return value.value
        if isinstance(value, (ir.Name, ir.Str)):
            raise Problem(
                f"`{value.value}` is not allowed here: expected {self.label}", self.label, value
            )
        raise self.fail(value)


@dataclass(frozen=True)
class Ref(ParamType):
    """A component of another kind, by name or call: ``relu``, ``l2(0.01)``, ``adam(...)``."""

    kind: str

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"{'an' if self.kind[0] in 'aeiou' else 'a'} {self.kind}"

    def takes(self, value: ir.Value) -> bool:
        return False

    def claims(self, name: str, binder: Binder) -> bool:
        return binder.registry.get(self.kind, name) is not None

    def names(self, binder: Binder) -> list[str]:
        return binder.registry.names(self.kind, aliases=True)

    def convert(self, value: ir.Value, binder: Binder) -> Any:
        if isinstance(value, (ir.Name, ir.Call, ir.Str)):
            return binder.bind_ref(self.kind, value)
        raise self.fail(value)


@dataclass(frozen=True)
class Quantity(ParamType):
    """A quantity training logs, by its log name: ``val_loss``, ``accuracy`` (bare or quoted).

    The type only reads a word; ``check`` verifies the program logs it (see
    :func:`netdsl.checking.target.check_monitors`)."""

    label = "a logged quantity such as `val_loss`"
    forms = (ir.Str,)

    def convert(self, value: ir.Value, binder: Binder) -> str:
        if isinstance(value, (ir.Name, ir.Str)) and str(value.value).isidentifier():
            return str(value.value)
        raise self.fail(value)


@dataclass(frozen=True)
class Size(ParamType):
    """A window or stride: one integer for every axis (``3``) or one per axis (``3x3``, ``(3, 3)``)."""

    rank: int = 2
    min: int = 1
    forms = (ir.Int, ir.Shape, ir.Tuple)

    @property
    def label(self) -> str:  # type: ignore[override]
        if self.rank == 1:
            return f"an integer >= {self.min}"
        return f"an integer >= {self.min} or {self.rank} of them (`{'x'.join(['3'] * self.rank)}`)"

    def convert(self, value: ir.Value, binder: Binder) -> tuple[int, ...]:
        if isinstance(value, ir.Int):
            dims: tuple[int, ...] = (value.value,) * self.rank
        elif isinstance(value, ir.Shape):
            dims = value.dims
        elif isinstance(value, ir.Tuple) and all(isinstance(i, ir.Int) for i in value.items):
            dims = tuple(i.value for i in value.items if isinstance(i, ir.Int))
        else:
            raise self.fail(value)
        if len(dims) != self.rank or any(d < self.min for d in dims):
            raise Problem(
                f"expected {self.label}, found {describe_value(value)}", self.label, value
            )
        return dims


@dataclass(frozen=True)
class ShapeT(ParamType):
    """A tensor shape without the batch axis: ``28x28x1``, ``(7, 7, 64)``, ``784``; -1 once in reshape."""

    allow_unknown: bool = False
    label = "a shape such as `28x28x1`"
    forms = (ir.Int, ir.Shape, ir.Tuple)

    def convert(self, value: ir.Value, binder: Binder) -> tuple[int, ...]:
        if isinstance(value, ir.Int):
            dims: tuple[int, ...] = (value.value,)
        elif isinstance(value, ir.Shape):
            dims = value.dims
        elif (
            isinstance(value, ir.Tuple)
            and value.items
            and all(isinstance(i, ir.Int) for i in value.items)
        ):
            dims = tuple(i.value for i in value.items if isinstance(i, ir.Int))
        else:
            raise self.fail(value)
        unknown = sum(1 for d in dims if d == -1)
        if any(d == 0 or d < -1 for d in dims) or unknown > (1 if self.allow_unknown else 0):
            what = "positive sizes" + (" (and at most one -1)" if self.allow_unknown else "")
            raise Problem(f"a shape needs {what}, found {describe_value(value)}", self.label, value)
        return dims


@dataclass(frozen=True)
class ListOf(ParamType):
    """``[a, b]`` of one item type; a single item is accepted as a one-element list."""

    item: ParamType

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"a list of {self.item.label.split(' ', 1)[-1]}s (`[...]`)"

    forms = (ir.List,)

    def names(self, binder: Binder) -> list[str]:
        return self.item.names(binder)

    def convert(self, value: ir.Value, binder: Binder) -> list[Any]:
        from ..errors import NetdslError, NetdslErrors

        items = value.items if isinstance(value, ir.List) else (value,)
        out, errors = [], []
        for v in items:  # every bad item is reported, not only the first
            try:
                out.append(self.item.convert(v, binder))
            except NetdslError as e:
                errors.append(e)
        if errors:
            raise errors[0] if len(errors) == 1 else NetdslErrors(errors)
        return out


@dataclass(frozen=True)
class OneOf(ParamType):
    """The first of several types that takes the value, e.g. ``Float() | Choice(('auto',))``."""

    options: tuple[ParamType, ...]

    @property
    def label(self) -> str:  # type: ignore[override]
        return " or ".join(o.label for o in self.options)

    def takes(self, value: ir.Value) -> bool:
        return any(o.takes(value) for o in self.options)

    def claims(self, name: str, binder: Binder) -> bool:
        return any(o.claims(name, binder) for o in self.options)

    def names(self, binder: Binder) -> list[str]:
        return [n for o in self.options for n in o.names(binder)]

    def convert(self, value: ir.Value, binder: Binder) -> Any:
        first: Problem | None = None
        fitting: Problem | None = None  # from the one option that takes this form of value
        for o in self.options:
            try:
                return o.convert(value, binder)
            except Problem as p:
                first = first or p
                if o.takes(value) and fitting is None:
                    fitting = p
        if fitting is not None and sum(o.takes(value) for o in self.options) == 1:
            raise fitting  # `-0.1` for a number or a schedule: say what is wrong with the number
        raise Problem(f"expected {self.label}, found {describe_value(value)}", self.label, value)


class ByOutput(dict[str, Any]):
    """A setting's value per output (``loss: {digit: ..., odd: ...}``): output name -> value.
    ``spans`` keeps where each key was written, for an error at a key naming no output."""

    spans: dict[str, Any]

    def __init__(self, items: Any = (), spans: dict[str, Any] | None = None) -> None:
        super().__init__(items)
        self.spans = dict(spans or {})


@dataclass(frozen=True)
class _OverItem(ParamType):
    """A type whose values hold values of ``item``: it claims and suggests the names ``item``
    does, so a positional name and a did-you-mean reach the item type."""

    item: ParamType

    def claims(self, name: str, binder: Binder) -> bool:
        return self.item.claims(name, binder)

    def names(self, binder: Binder) -> list[str]:
        return self.item.names(binder)


@dataclass(frozen=True)
class MapOf(_OverItem):
    """A mapping ``{name: value, ...}`` (``types={description: text}``): any names as keys,
    each value of ``item``; a :class:`ByOutput` keeping each key's span, for an error there."""

    forms = (ir.Map,)

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"a mapping `{{name: value}}` of {self.item.label}"

    def convert(self, value: ir.Value, binder: Binder) -> Any:
        if not isinstance(value, ir.Map):
            raise self.fail(value)
        return PerOutput(self.item).convert(value, binder)


@dataclass(frozen=True)
class PerOutput(_OverItem):
    """One value for every output, or ``{output: value, ...}`` (a mapping) per output."""

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"{self.item.label}, or a mapping `{{output: value}}` of them"

    def takes(self, value: ir.Value) -> bool:
        return isinstance(value, ir.Map) or self.item.takes(value)

    def convert(self, value: ir.Value, binder: Binder) -> Any:
        from ..errors import NetdslError, NetdslErrors

        if not isinstance(value, ir.Map):
            return self.item.convert(value, binder)
        out, spans, errors = ByOutput(), {}, []
        for arg in value.items:
            key = arg.key or ""
            if key in out:
                raise Problem(f"`{key}` is given twice", "each output once", arg)
            try:
                out[key] = self.item.convert(arg.value, binder)
            except NetdslError as e:
                errors.append(e)
            spans[key] = arg.key_span
        if errors:
            raise errors[0] if len(errors) == 1 else NetdslErrors(errors)
        out.spans = spans
        return out
