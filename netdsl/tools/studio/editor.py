"""The studio editor's features, answered by the language server's own analysis.

Each request carries the whole text; :class:`Editor` keeps the last analysis of each document
(so hover, completion and the diagram right after a check reuse it, and an edit is reparsed
from the previous program as the language server does) and turns the :mod:`lsprotocol` answers
into plain JSON for the page. Positions are LSP's: 0-based lines and UTF-16 columns, which is
what the browser's strings count.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from ..lsp_features import Analysis, analyze
from ..summary import summary_text

__all__ = ["Editor"]

#: the most documents whose analysis is kept (one per open file, and the example)
KEEP = 16


def _position(p: lsp.Position) -> dict[str, int]:
    return {"line": p.line, "character": p.character}


def _markup(value: Any) -> str:
    if isinstance(value, lsp.MarkupContent):
        return value.value
    return "" if value is None else str(value)


class Editor:
    """Checks, hovers, completions and diagrams of the documents the page edits."""

    def __init__(self, registry: Any, root: Path) -> None:
        self.registry = registry
        self.root = root
        self._last: dict[str, Analysis] = {}
        self._pictures: dict[str, str] = {}  # graph key -> its SVG: Graphviz runs once per graph
        self._lock = threading.Lock()

    def uri(self, name: str) -> str:
        """A document's URI: its file inside the folder (relative data paths resolve there)."""
        return (self.root / name).as_uri()

    def analysis(self, name: str, text: str) -> Analysis:
        """The analysis of ``text``: the kept one if the text is unchanged, else a new one."""
        uri = self.uri(name)
        with self._lock:
            last = self._last.get(uri)
        if last is not None and last.text == text:
            return last
        previous = last.program if last is not None else None
        result = analyze(uri, text, self.registry, "utf-16", previous)
        with self._lock:
            self._last.pop(uri, None)
            self._last[uri] = result
            while len(self._last) > KEEP:
                self._last.pop(next(iter(self._last)))
        return result

    def check(self, name: str, text: str) -> dict[str, Any]:
        """Diagnostics, their one-click fixes and the summary table (None while invalid)."""
        a = self.analysis(name, text)
        diagnostics = a.diagnostics()
        whole = lsp.Range(lsp.Position(0, 0), a.pos.position(len(text)))
        fixes = []
        for action in a.code_actions(whole, diagnostics):
            edits = (action.edit.changes or {}).get(a.uri, []) if action.edit else []
            for edit in edits:
                fixes.append(
                    {
                        "title": action.title,
                        "from": _position(edit.range.start),
                        "to": _position(edit.range.end),
                        "insert": edit.new_text,
                    }
                )
        return {
            "diagnostics": [self._diagnostic(d) for d in diagnostics],
            "fixes": fixes,
            "summary": summary_text(a.model) if a.model is not None else None,
        }

    @staticmethod
    def _diagnostic(d: lsp.Diagnostic) -> dict[str, Any]:
        return {
            "from": _position(d.range.start),
            "to": _position(d.range.end),
            "severity": "warning" if d.severity == lsp.DiagnosticSeverity.Warning else "error",
            "code": d.code,
            "message": d.message,
        }

    def hover(self, name: str, text: str, line: int, character: int) -> str | None:
        """The hover text (Markdown) at a position: a layer's shape and parameters, a name's help."""
        h = self.analysis(name, text).hover(lsp.Position(line, character))
        return _markup(h.contents) if h is not None else None

    def complete(self, name: str, text: str, line: int, character: int) -> list[dict[str, str]]:
        """What may be typed at a position, each with its kind and one-line help."""
        items = self.analysis(name, text).completion(lsp.Position(line, character))
        return [
            {
                "label": i.label,
                "detail": i.detail or "",
                "info": _markup(i.documentation),
                "sort": i.sort_text or i.label,
            }
            for i in items
        ]

    def diagram(self, name: str, text: str, have: str | None = None) -> dict[str, str | None]:
        """The network drawn by Graphviz (SVG) with its ``key`` (a digest of the graph), or why
        there is no picture. ``have``: the key of the picture the page shows; when the graph is
        the same, no SVG is sent (the page keeps its own, and does not draw it again)."""
        from ...errors import DiagramError
        from ..diagram import render, to_dot

        a = self.analysis(name, text)
        if a.model is None:
            return {"svg": None, "key": None, "message": "the diagram appears when it checks"}
        dot = to_dot(a.model)
        key = hashlib.sha256(dot.encode()).hexdigest()[:20]
        if key == have:
            return {"svg": None, "key": key, "message": None}
        with self._lock:
            picture = self._pictures.get(key)  # most edits (a comment, a setting) keep the graph
        if picture is None:
            try:
                svg = render(a.model, "svg")
            except DiagramError as e:
                return {"svg": None, "key": None, "message": f"{e.message} ({e.help})"}
            picture = svg.decode() if isinstance(svg, bytes) else svg
            with self._lock:
                self._pictures[key] = picture
                while len(self._pictures) > KEEP:
                    self._pictures.pop(next(iter(self._pictures)))
        return {"svg": picture, "key": key, "message": None}
