"""The one place errors become text: rustc-style snippets with carets, labels, notes and help.

::

    model.net:1:10: error[NDL003]: unknown activation or regularizer `relu6x` for `dense`
      |
    1 | dense 64 relu6x
      |          ^^^^^^ not a name dense takes
      = expected: an activation, a regularizer or one of `…`
      = help: did you mean `relu6`?
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Iterable

from .errors import NetdslError, Span

__all__ = ["render", "render_all", "to_json"]

_STYLE = {
    "error": "\x1b[1;31m", "warning": "\x1b[1;33m", "primary": "\x1b[1;31m",
    "secondary": "\x1b[1;36m", "gutter": "\x1b[1;34m", "bold": "\x1b[1m", "reset": "\x1b[0m",
}
_TAB = 4


def _c(text: str, style: str, color: bool) -> str:
    return f"{_STYLE[style]}{text}{_STYLE['reset']}" if color and text else text


def _width(text: str) -> int:
    """Display width: tabs to the next stop of 4, wide (CJK) characters count 2."""
    col = 0
    for ch in text:
        if ch == "\t":
            col += _TAB - col % _TAB
        elif unicodedata.combining(ch):
            continue
        else:
            col += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return col


def _display(line: str) -> str:
    out, col = [], 0
    for ch in line:
        if ch == "\t":
            pad = _TAB - col % _TAB
            out.append(" " * pad)
            col += pad
        elif ch.isprintable() or ch == " ":
            out.append(ch)
            col += _width(ch)
        else:
            out.append("\ufffd")
            col += 1
    return "".join(out)


def _lines(source: str) -> list[str]:
    return [ln.rstrip("\r") for ln in source.split("\n")]


def render(error: NetdslError, source: str | None = None, *, color: bool = False) -> str:
    """Render one error (or every error of a group) as text for a terminal."""
    if len(error.errors) > 1 or error.errors[0] is not error:
        return render_all(error.errors, source, color=color)
    return _render_one(error, source if source is not None else error.source, color)


def render_all(errors: Iterable[NetdslError], source: str | None = None, *, color: bool = False) -> str:
    """Render several errors, blank line between, with a count at the end."""
    errs = list(errors)
    parts = [_render_one(e, source if source is not None else e.source, color) for e in errs]
    if len(errs) > 1:
        parts.append(_c(f"{len(errs)} errors", "error", color))
    return "\n\n".join(parts)


def _render_one(error: NetdslError, source: str | None, color: bool) -> str:
    span = error.span
    where = f"{span.file or '<input>'}:{span.line}:{span.column}: " if span else ""
    head = f"{where}{_c(f'{error.kind}[{error.code}]', error.kind, color)}: {_c(error.message, 'bold', color)}"
    out = [head]
    marks: list[tuple[Span, str, str]] = []
    if span is not None:
        marks.append((span, "primary", error.label or ""))
    marks += [(n.span, "secondary", n.label) for n in error.notes]
    if source is not None and marks:
        out += _snippet(source, marks, span.file if span else None, color)
    if error.expected and error.expected not in (error.label or "") and error.expected not in error.message:
        out.append(f"  {_c('=', 'gutter', color)} expected: {error.expected}")
    if error.help:
        out.append(f"  {_c('=', 'gutter', color)} help: {error.help}")
    return "\n".join(out)


def _snippet(source: str, marks: list[tuple[Span, str, str]], file: str | None, color: bool) -> list[str]:
    lines = _lines(source)
    by_line: dict[int, list[tuple[Span, str, str]]] = {}
    other_files = []
    for m in marks:
        if m[0].file != file and m[0].file is not None and file is not None:
            other_files.append(m)
            continue
        by_line.setdefault(m[0].line, []).append(m)
    numbers = sorted(by_line)
    gw = len(str(numbers[-1])) if numbers else 1
    bar = _c("|", "gutter", color)
    out = [f"{' ' * gw} {bar}"]
    prev = None
    for n in numbers:
        if prev is not None and n > prev + 1:
            out.append(_c("...", "gutter", color))
        prev = n
        text = lines[n - 1] if 0 < n <= len(lines) else ""
        out.append(f"{_c(str(n).rjust(gw), 'gutter', color)} {bar}" + (f" {_display(text)}" if text else ""))
        for sp, kind, label in sorted(by_line[n], key=lambda m: m[1] != "primary"):
            start = _width(text[: sp.column - 1])
            last = sp.end_column - 1 if sp.end_line == sp.line else len(text) + 1
            width = max(1, _width(text[sp.column - 1: max(last, sp.column - 1)]))
            mark = ("^" if kind == "primary" else "-") * width
            under = " " * start + _c(mark + (" " + label if label else ""), kind, color)
            out.append(f"{' ' * gw} {bar} {under}")
    for sp, _kind, label in other_files:
        out.append(f"{' ' * gw} {_c(':::', 'gutter', color)} {sp.file}:{sp.line}:{sp.column}: {label}")
    return out


def to_json(errors: Iterable[NetdslError]) -> str:
    """The same fields as :func:`render`, as JSON for editors."""
    items: list[dict[str, Any]] = [e.to_dict() for err in errors for e in err.errors]
    return json.dumps({"errors": items}, indent=2)
