"""IR to canonical text. ``parse(format(p)) == p`` for every program ``p`` (a property test).

Canonical means: one setting per line in source order, a blank line, blocks, a blank line,
then the named chains of a graph (``e1 = ...``) in source order and the network (a graph's
last unnamed chain follows its named chains without a blank line), each on one line when it
fits in 88 columns, else one step per line with ``->`` leading. Comments are kept: each stays before, or at the end of, the step or line it was on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from . import ir

__all__ = ["WIDTH", "format", "format_chain", "format_value"]

WIDTH = 88
_LITERALS = (ir.Int, ir.Float, ir.Bool, ir.Str, ir.Shape)


def format_value(v: ir.Node) -> str:
    """One value (or argument) as source text."""
    if isinstance(v, ir.Arg):
        return f"{v.key}={format_value(v.value)}" if v.key else format_value(v.value)
    if isinstance(v, ir.Bool):
        return "true" if v.value else "false"
    if isinstance(v, ir.Int):
        return str(v.value)
    if isinstance(v, ir.Float):
        return _float(v.value)
    if isinstance(v, ir.Str):
        return '"' + v.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, ir.Name):
        return v.value
    if isinstance(v, ir.Shape):
        return "x".join(str(d) for d in v.dims)
    if isinstance(v, ir.Tuple):
        inner = ", ".join(format_value(i) for i in v.items)
        return f"({inner},)" if len(v.items) == 1 else f"({inner})"
    if isinstance(v, ir.List):
        return "[" + ", ".join(format_value(i) for i in v.items) + "]"
    if isinstance(v, ir.Call):
        return f"{v.name}(" + ", ".join(format_value(a) for a in v.args) + ")"
    if isinstance(v, ir.Map):
        return "{" + ", ".join(f"{a.key}: {format_value(a.value)}" for a in v.items) + "}"
    raise TypeError(f"not a value: {v!r}")


def _float(x: float) -> str:
    if math.isinf(x):
        return "1e999" if x > 0 else "-1e999"
    text = repr(x)
    return text if any(c in text for c in ".e") else text + ".0"


def format_step(step: ir.Step) -> str:
    """One step (layer, group, branches) on one line."""
    if isinstance(step, ir.Layer):
        return _layer(step)
    if isinstance(step, ir.Repeat):
        inner = f"({format_chain(step.chain)})"
        if step.times_space is not None:
            return f"{inner} * {format_value(step.times_space)}"
        return inner if step.times == 1 else f"{inner} * {step.times}"
    if isinstance(step, ir.Branches):
        inner = "[" + " | ".join(format_chain(c) for c in step.chains) + "]"
        if not step.merge:
            return inner
        return " ".join([inner, step.merge, *(format_value(a) for a in step.merge_args)])
    raise TypeError(f"not a step: {step!r}")


def _layer(layer: ir.Layer) -> str:
    if not layer.call and not layer.body:
        return " ".join([layer.name, *(format_value(a) for a in layer.args)])
    n = 0  # arguments that can stand inside the parentheses: literals and key=value
    while n < len(layer.args) and (layer.args[n].key or isinstance(layer.args[n].value, _LITERALS)):
        n += 1
    # positional values first, then the enclosed chains, then the rest in their order (an
    # argument never moves past another argument: `f(x=1, 2)` stays as written)
    lead = 0
    while lead < n and not layer.args[lead].key:
        lead += 1
    inside = [format_value(a) for a in layer.args[:lead]]
    inside += [format_chain(c) for c in layer.body]
    inside += [format_value(a) for a in layer.args[lead:n]]
    rest = [format_value(a) for a in layer.args[n:]]
    return " ".join([f"{layer.name}(" + ", ".join(inside) + ")", *rest])


def format_chain(chain: ir.Chain) -> str:
    return " -> ".join(format_step(s) for s in chain.steps)


def format(program: ir.Program) -> str:
    """Canonical source text for a program (ends with a newline unless empty)."""
    comments = _Comments(program.comments)
    sections: list[list[str]] = []
    uses = [_with(comments, u.span, f"use {format_value(ir.Str(u.path))}") for u in program.uses]
    settings = [
        _with(comments, s.span, f"{s.key}: {format_value(s.value)}") for s in program.settings
    ]
    blocks = [
        _with(
            comments,
            b.span,
            f"block {b.name}"
            + (f"({', '.join(b.params)})" if b.params else "")
            + f" = {format_chain(b.body)}",
        )
        for b in program.blocks
    ]
    for part in (uses, settings, blocks):
        if part:
            sections.append([line for lines in part for line in lines])
    if program.bindings:
        sections.append(
            [line for b in program.bindings for line in _network(b.chain, comments, _head(b))]
        )
    if program.network is not None:
        lines = _network(program.network, comments)
        if program.bindings:  # a graph's last chain goes with its named chains
            sections[-1] += lines
        else:
            sections.append(lines)
    tail = comments.rest()
    if tail:
        sections.append(tail)
    return "\n\n".join("\n".join(s) for s in sections) + ("\n" if sections else "")


def _head(binding: ir.Binding) -> str:
    """What a binding writes before its chain: ``e1 = ``, ``output digit = ``."""
    keyword = "" if binding.kind == "tensor" else f"{binding.kind} "
    return f"{keyword}{binding.name} = "


def _network(chain: ir.Chain, comments: _Comments, head_text: str = "") -> list[str]:
    """A chain on one line when it fits, else one step per line (``head_text`` starts it:
    a binding's ``name = ``)."""
    steps = chain.steps
    placed = []
    for i, s in enumerate(steps):
        following = steps[i + 1].span if i + 1 < len(steps) else None
        limit = following.start if following is not None else None
        before = comments.before(s.span)
        placed.append((before, format_step(s), comments.trailing(s.span, limit)))
    head = placed[0][0]  # comments above the network stay above it, wherever it breaks
    placed[0] = ([], head_text + placed[0][1], placed[0][2])
    one_line = " -> ".join(text for _, text, _ in placed)
    fits = len(one_line) <= WIDTH and not any(b or t for b, _, t in placed[:-1])
    if fits and (len(placed) == 1 or not placed[-1][0]):
        trailing = placed[-1][2]
        return [*head, one_line + (f"  {trailing}" if trailing else "")]
    out: list[str] = list(head)
    for i, (before, text, trailing) in enumerate(placed):
        indent = "" if i == 0 else "  "
        out += [indent + c for c in before]
        out.append(
            indent + ("" if i == 0 else "-> ") + text + (f"  {trailing}" if trailing else "")
        )
    return out


def _with(comments: _Comments, span: object, text: str) -> list[str]:
    before = comments.before(span)
    trailing = comments.trailing(span)
    return [*before, text + (f"  {trailing}" if trailing else "")]


class _Comments:
    """Hands out the program's comments in source order as the formatter walks its items."""

    def __init__(self, items: Iterable[ir.Comment]) -> None:
        self.items = sorted(items, key=lambda c: c.span.start if c.span else 0)
        self.i = 0

    def before(self, span: object) -> list[str]:
        out = []
        start = getattr(span, "start", None)
        while self.i < len(self.items) and start is not None and self._at(self.i) < start:
            out.append(self.items[self.i].text)
            self.i += 1
        return out

    def trailing(self, span: object, limit: int | None = None) -> str | None:
        line, end = getattr(span, "end_line", None), getattr(span, "end", None)
        found = []
        while (
            self.i < len(self.items)
            and line is not None
            and end is not None
            and getattr(self.items[self.i].span, "line", None) == line
            and self._at(self.i) >= end
            and (limit is None or self._at(self.i) < limit)
        ):
            found.append(self.items[self.i].text)
            self.i += 1
        return " ".join(found) if found else None

    def _at(self, i: int) -> int:
        span = self.items[i].span
        return span.start if span else 0

    def rest(self) -> list[str]:
        out = [c.text for c in self.items[self.i :]]
        self.i = len(self.items)
        return out
