"""One error root for everything a user can get wrong, each carrying the source span it is about.

Errors are data: an embedder reads ``code``, ``message``, ``span``, ``label``, ``help`` and
``notes`` and draws them in its own UI; :mod:`netdsl.diagnostics` renders them for a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = [
    "Span",
    "Note",
    "NetdslError",
    "NetdslSyntaxError",
    "NetdslNameError",
    "NetdslArgumentError",
    "NetdslShapeError",
    "NetdslSettingError",
    "NetdslDataError",
    "NetdslPluginError",
    "NetdslTrainingError",
    "NetdslErrors",
    "SourceLines",
]


@dataclass(frozen=True)
class Span:
    """A region of source text: 0-based character offsets and 1-based line/column of both ends."""

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int
    file: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], file: str | None = None) -> "Span":
        return cls(
            data["start"], data["end"], data["line"], data["column"],
            data["end_line"], data["end_column"], file,
        )

    @classmethod
    def point(cls, text: str, offset: int, file: str | None = None, width: int = 1) -> "Span":
        """The span of ``width`` characters at ``offset`` in ``text`` (line/column computed)."""
        offset = max(0, min(offset, len(text)))
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        end = min(offset + width, len(text)) if offset < len(text) else offset
        return cls(offset, end, line, column, line, column + max(end - offset, 0), file)

    def with_file(self, file: str | None) -> "Span":
        return Span(self.start, self.end, self.line, self.column, self.end_line, self.end_column, file)


class SourceLines(dict[int, str]):
    """Some lines of a file too big to hold, by 1-based line number: the ``source`` an error
    about a data file (a CSV row) carries, so the renderer can draw that line with its caret."""


@dataclass(frozen=True)
class Note:
    """A secondary span with a short label, e.g. "`(` opened here"."""

    span: Span
    label: str


class NetdslError(Exception):
    """Root of every error netdsl raises on purpose; ``code`` is stable (``NDL###``)."""

    code = "NDL000"
    kind = "error"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        *,
        label: str | None = None,
        expected: str | None = None,
        help: str | None = None,
        notes: Iterable[Note] = (),
        code: str | None = None,
        source: "str | SourceLines | None" = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.label = label
        self.expected = expected
        self.help = help
        self.notes = tuple(notes)
        self.source = source
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        where = ""
        if self.span is not None:
            where = f"{self.span.file or '<input>'}:{self.span.line}:{self.span.column}: "
        return f"{where}{self.message}"

    @property
    def errors(self) -> tuple["NetdslError", ...]:
        """Every error this one stands for (itself, or the members of a group)."""
        return (self,)

    def to_dict(self) -> dict[str, Any]:
        """The same fields the terminal rendering shows, for editors (``--json``)."""
        span = self.span
        return {
            "code": self.code,
            "severity": self.kind,
            "message": self.message,
            "file": span.file if span else None,
            "span": span.to_dict() if span else None,
            "label": self.label,
            "expected": self.expected,
            "help": self.help,
            "notes": [
                {"file": n.span.file, "span": n.span.to_dict(), "label": n.label} for n in self.notes
            ],
        }


class NetdslSyntaxError(NetdslError):
    """The text is not a netdsl program (bad token, unclosed bracket, bad encoding)."""

    code = "NDL001"


class NetdslNameError(NetdslError):
    """A name that no plugin provides in the kind it is used as."""

    code = "NDL003"


class NetdslArgumentError(NetdslError):
    """An argument that does not bind: wrong type, out of range, twice, missing, ambiguous."""

    code = "NDL005"


class NetdslShapeError(NetdslError):
    """A layer that cannot take the shape flowing into it."""

    code = "NDL008"


class NetdslSettingError(NetdslError):
    """A settings line with an unknown key or a bad value."""

    code = "NDL004"


class NetdslDataError(NetdslError):
    """Data that cannot be found or read: missing, corrupt, truncated or mismatched files."""

    code = "NDL100"


class NetdslPluginError(NetdslError):
    """A plugin that fails to load, registers a duplicate name, or misspells a hook."""

    code = "NDL200"


class NetdslTrainingError(NetdslError):
    """Training that cannot go on (a NaN loss, TensorFlow missing)."""

    code = "NDL300"


class NetdslErrors(NetdslError):
    """Several errors found in one pass; iterate ``errors`` for each."""

    def __init__(self, errors: Iterable[NetdslError]) -> None:
        flat: list[NetdslError] = []
        for e in errors:
            flat.extend(e.errors)
        flat.sort(key=lambda e: (e.span.file or "", e.span.start) if e.span else ("", -1))
        self._errors = tuple(flat)
        first = flat[0] if flat else None
        n = len(flat)
        super().__init__(
            f"{n} error{'s' if n != 1 else ''}" + (f"; first: {first.message}" if first else ""),
            first.span if first else None,
            code=first.code if first else None,
        )

    @property
    def errors(self) -> tuple[NetdslError, ...]:
        return self._errors

    def to_dict(self) -> dict[str, Any]:
        return {"errors": [e.to_dict() for e in self._errors]}
