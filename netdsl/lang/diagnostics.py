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
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from ..errors import NetdslError, SourceLines, Span

__all__ = ["MAX_RENDERED", "render", "render_all", "to_json", "visible"]

_STYLE = {
    "error": "\x1b[1;31m",
    "warning": "\x1b[1;33m",
    "primary": "\x1b[1;31m",
    "secondary": "\x1b[1;36m",
    "gutter": "\x1b[1;34m",
    "bold": "\x1b[1m",
    "reset": "\x1b[0m",
}
_TAB = 4
_MORE = "    "  # where the second and later lines of a help or expected note start


def _c(text: str, style: str, color: bool) -> str:
    return f"{_STYLE[style]}{text}{_STYLE['reset']}" if color and text else text


#: errors drawn by :func:`render_all` before a closing "… and N more errors not shown" line
MAX_RENDERED = 50
#: a source line wider than this is shown as a window around its marks, cut with "…"
MAX_LINE_WIDTH = 160
_CONTEXT = 40  # characters kept either side of the marks in a cut line


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def _safe(ch: str) -> bool:
    """A character a terminal shows as itself (no control, format, or line/paragraph break)."""
    return ch.isprintable() or ch == " "


def _escape(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def visible(text: str) -> str:
    """``text`` with every character a terminal would act on (ESC, BEL, bidi overrides, ...)
    written as an escape such as ``\\x1b``: messages, labels and file names go through this."""
    if all(_safe(ch) for ch in text):
        return text
    return "".join(ch if _safe(ch) else _escape(ch) for ch in text)


def _visible_lines(text: str, indent: str = "") -> str:
    """``text`` made :func:`visible` line by line: a newline a message means ("Looked in:\\n
    - ...") stays a newline, continued after ``indent``; every other control is escaped."""
    return ("\n" + indent).join(visible(line) for line in text.replace("\r\n", "\n").split("\n"))


def _shown(ch: str, col: int) -> str:
    """How one source character is drawn at display column ``col``."""
    if ch == "\t":
        return " " * (_TAB - col % _TAB)
    if _safe(ch):
        return ch
    o = ord(ch)
    if o < 0x20:
        return chr(0x2400 + o)  # control pictures: ESC is drawn ␛, NUL ␀
    if o == 0x7F:
        return "\u2421"  # ␡
    return _escape(ch)


def _display(line: str, col: int = 0) -> tuple[str, int]:
    """A source line as drawn (tabs expanded, controls made visible) and its end column."""
    out = []
    for ch in line:
        shown = _shown(ch, col)
        out.append(shown)
        col += len(shown) if ch == "\t" or not _safe(ch) else _char_width(ch)
    return "".join(out), col


def _width(text: str, col: int = 0) -> int:
    """Display columns ``text`` takes when drawn from column ``col``."""
    return _display(text, col)[1] - col


class _Source:
    """A source text with its line starts indexed once, so each error costs only its lines
    (or, for a big data file, just the lines an error carries: :class:`SourceLines`)."""

    def __init__(self, text: str | SourceLines) -> None:
        self.text = text
        self.lines = text if isinstance(text, SourceLines) else None
        self.starts = (
            [] if self.lines is not None else [0] + [m.end() for m in re.finditer("\n", str(text))]
        )

    def line(self, n: int) -> str:
        if self.lines is not None:
            return self.lines.get(n, "").rstrip("\r\n")
        assert isinstance(self.text, str)
        if not 0 < n <= len(self.starts):
            return ""
        start = self.starts[n - 1]
        end = self.starts[n] - 1 if n < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r")


def render(
    error: NetdslError, source: str | SourceLines | None = None, *, color: bool = False
) -> str:
    """Render one error (or every error of a group) as text for a terminal."""
    if len(error.errors) > 1 or error.errors[0] is not error:
        return render_all(error.errors, source, color=color)
    text = source if source is not None else error.source
    return _render_one(error, _Source(text) if text is not None else None, color)


def render_all(
    errors: Iterable[NetdslError],
    source: str | SourceLines | None = None,
    *,
    color: bool = False,
    limit: int = MAX_RENDERED,
) -> str:
    """Render several errors, blank line between, with a count at the end. Only the first
    ``limit`` are drawn (a line says how many more there are); each source is indexed once."""
    errs = list(errors)
    indexed: dict[int, _Source] = {}
    parts = []
    for e in errs[:limit]:
        text = source if source is not None else e.source
        src = None
        if text is not None:
            src = indexed.get(id(text))
            if src is None or src.text is not text:
                src = indexed[id(text)] = _Source(text)
        parts.append(_render_one(e, src, color))
    if len(errs) > limit:
        more = len(errs) - limit
        parts.append(f"… and {more:,} more error{'s' if more != 1 else ''} not shown")
    if len(errs) > 1:
        parts.append(_c(f"{len(errs)} errors", "error", color))
    return "\n\n".join(parts)


def _render_one(error: NetdslError, source: _Source | None, color: bool) -> str:
    span = error.span
    where = f"{visible(span.file or '<input>')}:{span.line}:{span.column}: " if span else ""
    message = _visible_lines(error.message)
    head = f"{where}{_c(f'{error.kind}[{error.code}]', error.kind, color)}: {_c(message, 'bold', color)}"
    out = [head]
    marks: list[tuple[Span, str, str]] = []
    if span is not None:
        marks.append((span, "primary", visible(error.label or "")))
    marks += [(n.span, "secondary", visible(n.label)) for n in error.notes]
    if source is not None and marks:
        out += _snippet(source, marks, span.file if span else None, color)
    if (
        error.expected
        and error.expected not in (error.label or "")
        and error.expected not in error.message
    ):
        out.append(
            f"  {_c('=', 'gutter', color)} expected: {_visible_lines(error.expected, _MORE)}"
        )
    if error.help:
        out.append(f"  {_c('=', 'gutter', color)} help: {_visible_lines(error.help, _MORE)}")
    return "\n".join(out)


def _window(text: str, marks: list[tuple[Span, str, str]]) -> tuple[int, int]:
    """The characters of a long line to show: about :data:`MAX_LINE_WIDTH` of them from a
    little before its primary mark (else its first)."""
    if len(text) <= MAX_LINE_WIDTH:
        return 0, len(text)
    anchor = next((sp for sp, kind, _ in marks if kind == "primary"), marks[0][0])
    a = max(0, min(anchor.column - 1, len(text)) - _CONTEXT)
    return a, min(len(text), a + MAX_LINE_WIDTH)


def _snippet(
    source: _Source, marks: list[tuple[Span, str, str]], file: str | None, color: bool
) -> list[str]:
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
        text = source.line(n)
        a, b = _window(text, by_line[n])
        shown = [m for m in by_line[n] if a <= m[0].column - 1 <= b]
        other_files += [m for m in by_line[n] if m not in shown]  # off the cut line: by position
        lead = "…" if a > 0 else ""
        drawn, _ = _display(text[a:b], len(lead))
        drawn = lead + drawn + ("…" if b < len(text) else "")
        out.append(f"{_c(str(n).rjust(gw), 'gutter', color)} {bar}" + (f" {drawn}" if text else ""))
        for sp, kind, label in sorted(shown, key=lambda m: m[1] != "primary"):
            c0 = min(max(sp.column - 1, a), b)
            last = sp.end_column - 1 if sp.end_line == sp.line else len(text) + 1
            c1 = min(max(last, c0), b)
            start = len(lead) + _width(text[a:c0], len(lead))
            width = max(1, _width(text[c0:c1], start))
            mark = ("^" if kind == "primary" else "-") * width
            under = " " * start + _c(mark + (" " + label if label else ""), kind, color)
            out.append(f"{' ' * gw} {bar} {under}")
    for sp, _kind, label in other_files:
        place = visible(sp.file or file or "<input>")
        out.append(
            f"{' ' * gw} {_c(':::', 'gutter', color)} {place}:{sp.line}:{sp.column}: {label}"
        )
    return out


def to_json(errors: Iterable[NetdslError]) -> str:
    """The same fields as :func:`render`, as JSON for editors."""
    items: list[dict[str, Any]] = [e.to_dict() for err in errors for e in err.errors]
    return json.dumps({"errors": items}, indent=2)
