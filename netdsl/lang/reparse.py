"""Re-parse after an edit: only the changed step of the network, the rest of the IR reused.

The language server re-checks a document at every keystroke; parsing a 200-line program whole
takes most of that time (Lark's LALR parser, ~1,000 tokens). A keystroke usually changes one
step of the network (``dense 33 relu`` -> ``dense 33 relux``), so :func:`reparse` parses only
that step's new text on its own and splices it into the previous program: the steps before it
are reused as they are, those after it (and later settings, blocks and comments) get their
spans moved by the edit's length.

The result is the program :func:`netdsl.lang.parser.parse` would give, spans included; whenever
that cannot be guaranteed cheaply, it *is* ``parse``'s result. It falls back to a whole parse
when the edit spans a line break, a comment mark or a quote (each can change how the text
around it lexes), when it is not inside one top-level step of the network on one line, or
when the step's new text does not parse on its own as steps (then the whole parse gives the
exact syntax errors). tests/test_reparse.py compares it with ``parse`` on random edits.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from typing import Any

from ..errors import Span
from . import ir
from .parser import MAX_INPUT_BYTES, may_pass_step_limit, parse

__all__ = ["changed_region", "reparse"]

#: characters that may change how the text around them lexes: an edit holding one (or a step
#: holding a line break) is re-parsed whole
_UNSAFE_EDIT = frozenset('\n\r#"')


def changed_region(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: ``old[start:old_end]`` became ``new[start:new_end]``
    (the longest common prefix and suffix left out; binary search over C-level compares)."""
    most = min(len(old), len(new))
    lo, hi = 0, most
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    start = lo
    lo, hi = 0, most - start
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid :] == new[len(new) - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return start, len(old) - lo, len(new) - lo


class _Move:
    """Where spans go: ``offset`` more characters and ``lines`` more lines; the columns of the
    ends that sit on line ``row`` move by ``columns``."""

    __slots__ = ("columns", "lines", "offset", "row")

    def __init__(self, offset: int, lines: int, columns: int, row: int) -> None:
        self.offset, self.lines, self.columns, self.row = offset, lines, columns, row

    def span(self, s: Span) -> Span:
        return Span(
            s.start + self.offset,
            s.end + self.offset,
            s.line + self.lines,
            s.column + (self.columns if s.line == self.row else 0),
            s.end_line + self.lines,
            s.end_column + (self.columns if s.end_line == self.row else 0),
            s.file,
        )

    def value(self, v: Any) -> Any:
        if v is None or type(v) in _PLAIN:
            return v
        if isinstance(v, ir.Node):
            return self.node(v)
        if isinstance(v, Span):
            return self.span(v)
        if isinstance(v, tuple):
            return tuple([self.value(x) for x in v])
        return v

    def node(self, node: Any) -> Any:
        if self.offset == 0 and self.lines == 0 and self.columns == 0:
            return node  # nothing moves: the very same (frozen) node
        cls = type(node)
        names = _FIELDS.get(cls)
        if names is None:
            names = _FIELDS[cls] = tuple(f.name for f in fields(cls))  # all init fields, in order
        return cls(*[self.value(getattr(node, name)) for name in names])


#: each IR class's field names (fields() is slow enough to matter at every node)
_FIELDS: dict[type, tuple[str, ...]] = {}
#: values with no span inside
_PLAIN = frozenset({str, int, float, bool})


def _after(node: Any, at: int) -> bool:
    span: Span | None = node.span
    return span is not None and span.start >= at


def reparse(
    previous: ir.Program,
    text: str,
    filename: str | None = None,
    *,
    setting_names: Collection[str] = (),
) -> ir.Program:
    """The program of ``text``, given the ``previous`` program parsed from the text before an
    edit: exactly :func:`~netdsl.lang.parser.parse`'s result (or its errors), usually much faster."""
    old, net = previous.source, previous.network
    if (
        old is None
        or net is None
        or previous.bindings  # a graph: parsed whole (the fast path knows one chain)
        or previous.filename != filename
        or text.startswith("\ufeff")
        or len(text) > MAX_INPUT_BYTES // 4
        or may_pass_step_limit(text)
    ):
        # (near the step limit: the whole parse counts the steps)
        return parse(text, filename, setting_names=setting_names)
    if text == old:
        return previous
    start, old_end, new_end = changed_region(old, text)
    if _UNSAFE_EDIT.intersection(old[start:old_end]) or _UNSAFE_EDIT.intersection(
        text[start:new_end]
    ):
        return parse(text, filename, setting_names=setting_names)
    at = next(
        (
            i
            for i, step in enumerate(net.steps)
            if step.span is not None and step.span.start <= start and old_end <= step.span.end
        ),
        None,
    )
    if at is None:
        return parse(text, filename, setting_names=setting_names)
    step_span = net.steps[at].span
    assert step_span is not None
    delta = new_end - old_end
    snippet = text[step_span.start : step_span.end + delta]
    if step_span.line != step_span.end_line or "\n" in snippet or "\r" in snippet:
        return parse(text, filename, setting_names=setting_names)
    try:
        alone = parse(snippet, filename, setting_names=setting_names)
    except Exception:  # noqa: BLE001 - any error: the whole parse says it exactly
        return parse(text, filename, setting_names=setting_names)
    if alone.settings or alone.blocks or alone.bindings or alone.uses or alone.network is None:
        return parse(
            text, filename, setting_names=setting_names
        )  # `name: ...` or `block ...` typed in: another statement
    place = _Move(step_span.start, step_span.line - 1, step_span.column - 1, 1)
    later = _Move(delta, 0, delta, step_span.line)
    steps = (
        *net.steps[:at],
        *(place.node(s) for s in alone.network.steps),
        *(later.node(s) for s in net.steps[at + 1 :]),
    )
    first, last = steps[0].span, steps[-1].span
    assert first is not None and last is not None
    network = ir.Chain(
        steps,
        Span(
            first.start,
            last.end,
            first.line,
            first.column,
            last.end_line,
            last.end_column,
            first.file,
        ),
    )
    return ir.Program(
        tuple(later.node(s) if _after(s, start) else s for s in previous.settings),
        tuple(later.node(b) if _after(b, start) else b for b in previous.blocks),
        network,
        filename,
        tuple(later.node(c) if _after(c, start) else c for c in previous.comments),
        text,
        uses=tuple(later.node(u) if _after(u, start) else u for u in previous.uses),
    )
