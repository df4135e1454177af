"""What the passes of ``check`` share: the limits, where the shape walk is (a frozen context),
what a step gives the next one, and small helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from ..errors import NetdslNameError, Note, Span
from ..lang import ir
from ..vocab.components import Layer
from .graph import Shape

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_LAYERS",
    "MAX_NESTING",
    "MAX_PARAMS",
    "MAX_VALUES",
    "NO_ARGS",
    "UNKNOWN",
    "BoundStep",
    "Ctx",
    "Out",
    "is_shape",
    "note",
    "same_size",
    "short",
    "size",
]

#: how deep block uses may nest (a block using a block using a block ...)
MAX_BLOCK_DEPTH = 50
#: how deep the walk may go through brackets and block uses together
MAX_NESTING = 100
#: the most parameters a layer or a network may have (8 GB of float32 weights): more is a typo
MAX_PARAMS = 2**31 - 1
#: the most values one layer may output per example (TensorFlow's tensors index them with int32)
MAX_VALUES = 2**31 - 1
#: the most layers a network may expand to (repetition multiplies; this keeps `* 10**9` from
#: hanging)
MAX_LAYERS = 100_000  # far above real networks; bounds `(a) * 10**20`

UNKNOWN: Any = None  # the shape after an error: later layers are still bound, not inferred
NO_ARGS: Mapping[str, ir.Value] = MappingProxyType({})  # the block parameters of a use without any

Out = tuple[tuple[int, ...], Any]  # (input node indices, shape)


class Ctx(NamedTuple):
    """Where the walk is: block parameters in scope, notes to add, block nesting, display depth,
    how many chains enclose it, and whether it walks without expanding (``shallow``:
    repetitions once, block uses bound but not entered; used when the network expands past
    MAX_LAYERS, and for blocks no use reached). Immutable, and a tuple because the walk makes
    one per block use (a frozen dataclass costs a third more to make)."""

    subst: Mapping[str, ir.Value] = NO_ARGS
    notes: tuple[Note, ...] = ()
    blocks: tuple[str, ...] = ()
    depth: int = 0
    nesting: int = 0
    shallow: bool = False


class BoundStep:
    """A layer step bound once for its block arguments; its shape rule's answers by input shape."""

    __slots__ = ("bound", "component", "items", "layer", "shapes", "subst", "text")

    def __init__(
        self,
        layer: ir.Layer,
        subst: Mapping[str, ir.Value],
        component: Layer,
        bound: Mapping[str, Any],
    ) -> None:
        self.layer, self.subst, self.component, self.bound = layer, subst, component, bound
        self.text: str | None = None
        self.items = tuple(bound.items())
        self.shapes: dict[Any, tuple[Shape, int]] = {}


def note(span: Span | None, label: str) -> list[Note]:
    return [Note(span, label)] if span is not None else []


def name_clash(
    message: str,
    span: Span | None,
    label: str,
    there: Span | None,
    there_label: str,
    help: str | None = None,
) -> NetdslNameError:
    """An NDL011 name error (used before its definition, defined twice, using itself) at
    ``span``, with a note at ``there``: the other place the name stands."""
    return NetdslNameError(
        message, span, label=label, code="NDL011", notes=note(there, there_label), help=help
    )


def size(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def same_size(a: Sequence[int], b: Sequence[int]) -> bool:
    return -1 not in a and size(a) == size(b)


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a plugin may return anything, of any size)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a plugin's object whose repr fails
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value
    )
