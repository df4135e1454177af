"""One error root for everything a user can get wrong, each carrying the source span it is about.

Errors are data: an embedder reads ``code``, ``message``, ``span``, ``label``, ``help`` and
``notes`` and draws them in its own UI; :mod:`netdsl.lang.diagnostics` renders them for a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "DiagramError",
    "EmitError",
    "NetdslArgumentError",
    "NetdslDataError",
    "NetdslError",
    "NetdslErrors",
    "NetdslExportError",
    "NetdslFileError",
    "NetdslIRError",
    "NetdslInputError",
    "NetdslLimitError",
    "NetdslNameError",
    "NetdslPluginError",
    "NetdslSettingError",
    "NetdslShapeError",
    "NetdslSpaceError",
    "NetdslSyntaxError",
    "NetdslTrainingError",
    "NetdslTuneError",
    "NetdslWarning",
    "Note",
    "ServeError",
    "SourceLines",
    "Span",
    "StudioError",
    "error_codes",
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
    def from_dict(cls, data: dict[str, Any], file: str | None = None) -> Span:
        return cls(
            data["start"],
            data["end"],
            data["line"],
            data["column"],
            data["end_line"],
            data["end_column"],
            file,
        )

    @classmethod
    def point(cls, text: str, offset: int, file: str | None = None, width: int = 1) -> Span:
        """The span of ``width`` characters at ``offset`` in ``text`` (line/column computed)."""
        offset = max(0, min(offset, len(text)))
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        end = min(offset + width, len(text)) if offset < len(text) else offset
        return cls(offset, end, line, column, line, column + max(end - offset, 0), file)


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
    #: the codes this class owns, with their meaning (the README's table is checked against them)
    codes: ClassVar[dict[str, str]]

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
        source: str | SourceLines | None = None,
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
            owned = type(self).__dict__.get("codes")
            if owned is not None and code not in owned:
                raise ValueError(
                    f"{code} is not a code of {type(self).__name__} ({', '.join(owned)})"
                )
            self.code = code

    def __str__(self) -> str:
        where = ""
        if self.span is not None:
            where = f"{self.span.file or '<input>'}:{self.span.line}:{self.span.column}: "
        return f"{where}{self.message}"

    @property
    def errors(self) -> tuple[NetdslError, ...]:
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
                {"file": n.span.file, "span": n.span.to_dict(), "label": n.label}
                for n in self.notes
            ],
        }


class NetdslSyntaxError(NetdslError):
    """The text is not a netdsl program (bad token, unclosed bracket, bad encoding)."""

    code = "NDL001"
    codes = {
        "NDL001": "unexpected token",
        "NDL002": "unexpected character, a second network, or layers not joined by `->`",
        "NDL009": "the file is not UTF-8",
        "NDL010": "the program has no network",
    }


class NetdslNameError(NetdslError):
    """A name that no plugin provides in the kind it is used as, or a block defined wrongly."""

    code = "NDL003"
    codes = {
        "NDL003": "unknown name, or a name of the wrong kind",
        "NDL011": "a block or a named tensor defined twice, named like a layer, used before "
        "its definition, or using itself",
        "NDL030": "a library (`use`) missing, unreadable, importing itself, or holding more "
        "than blocks",
    }


class NetdslArgumentError(NetdslError):
    """An argument or value that does not bind: wrong type, out of range, twice, missing, ambiguous."""

    code = "NDL005"
    codes = {
        "NDL005": "wrong type or out of range (also a number literal too large)",
        "NDL006": "given twice, or ambiguous",
        "NDL007": "missing or unknown parameter",
    }


class NetdslShapeError(NetdslError):
    """A layer that cannot take the shape flowing into it, or an output that does not fit the data."""

    code = "NDL008"
    codes = {
        "NDL008": "a layer cannot take its input shape",
        "NDL013": "the network's output does not fit the dataset's target",
    }


class NetdslSettingError(NetdslError):
    """A settings line with an unknown or repeated key, or a setting that cannot be changed."""

    code = "NDL004"
    codes = {"NDL004": "unknown, repeated or unchangeable setting"}


class NetdslLimitError(NetdslError):
    """Input beyond what netdsl accepts: nesting, expansion or size limits (each documented)."""

    code = "NDL012"
    codes = {"NDL012": "nested too deeply, too many layers, or input over the size limit"}


class NetdslDataError(NetdslError):
    """Data that cannot be found or read: missing, corrupt, truncated or mismatched files."""

    code = "NDL100"
    codes = {
        "NDL100": "data not found, unreadable, corrupt or not what the program needs",
        "NDL101": "a bad cell, missing value or unknown label in a CSV file (at its line and column)",
    }


class NetdslPluginError(NetdslError):
    """A plugin that fails to load, registers a bad or duplicate declaration, or misbehaves."""

    code = "NDL200"
    codes = {
        "NDL200": "a plugin problem",
        "NDL201": "two plugins provide the same name",
        "NDL202": "a plugin failed to import, register or run a hook",
        "NDL203": "a plugin implements a hook netdsl does not have",
        "NDL204": "a plugin registered a malformed declaration",
        "NDL205": "a dataset's describe or load failed or answered garbage",
        "NDL206": "a layer's shape rule or build failed",
        "NDL207": "an environment switch that is not a boolean",
        "NDL208": "a layer's shape rule disagrees with the Keras layer it builds",
        "NDL209": "`NETDSL_PLUGINS` names a distribution that provides no netdsl plugin",
        "NDL220": "a component's custom Keras object cannot be imported",
    }


class NetdslTrainingError(NetdslError):
    """Training that cannot go on (a NaN loss, TensorFlow missing, a component that cannot build)."""

    code = "NDL300"
    codes = {
        "NDL300": "training cannot go on",
        "NDL301": "TensorFlow (Keras), or the chosen backend's engine, is not installed",
        "NDL302": "a component has nothing to build",
        "NDL303": "the loss, the weights or a test result became NaN",
        "NDL304": "the run crashed on an unexpected error (its run folder records it)",
        "NDL305": "the run folder cannot be written (disk full, `--out` not a folder, no permission)",
        "NDL306": "a run cannot be resumed (not a run folder, no usable checkpoint, finished, changed since it started, in use by another process)",
        "NDL307": "a folder with no training history to plot",
        "NDL310": "a saved model does not load back (it is kept as model.unloadable.keras)",
        "NDL311": "not a .keras file or a run folder",
        "NDL313": "a run folder whose model.keras does not fit its model.net (one of them replaced or edited)",
        "NDL315": "a weights file made for another network (a backbone's architecture or top)",
        "NDL320": "an unknown Keras backend, a switch of backend in one process, or a component that does not run on the chosen backend",
        "NDL321": "distributed training cannot start or go on (cluster options, coordinator unreachable, a process died, batch not divisible)",
        "NDL322": "an option that does not combine with distributed or multi-process training (e.g. --resume of a multi-process run)",
    }


class NetdslSpaceError(NetdslError):
    """A search space (``choice(...)``, ``range(...)``) that is malformed, or whose points fail
    the check (``netdsl.search``)."""

    code = "NDL016"
    codes = {
        "NDL016": "a malformed search space (an empty choice, a range with low > high or a log "
        "range through zero, a search space where one program is needed)",
        "NDL017": "a point of a search space fails the check, or no point passes it",
    }


class NetdslTuneError(NetdslTrainingError):
    """``netdsl tune`` cannot start or go on."""

    code = "NDL330"
    codes = {
        "NDL330": "tuning cannot start or go on (Optuna not installed, a study storage that "
        "cannot be reached, a study made from another program)",
    }


class NetdslIRError(NetdslError, ValueError):
    """Data given to :meth:`Program.from_dict` that is not a netdsl IR: the only error it raises.

    A ``ValueError`` too (as documented), and a :class:`~netdsl.errors.NetdslError` with code
    ``NDL014``; the message says where in the data (``network.steps[0].args[1]``) and what is wrong.
    """

    code = "NDL014"
    codes = {"NDL014": "`Program.from_dict` data that is not a netdsl IR"}


class NetdslFileError(NetdslError):
    """A file that cannot be written: read-only, missing folder, no space, no permission."""

    code = "NDL015"
    codes = {"NDL015": "a file `fmt --write` cannot write (read-only, no space, …)"}


class NetdslExportError(NetdslTrainingError):
    """A model that a format cannot take, or an artefact that does not reproduce the model."""

    code = "NDL312"
    codes = {
        "NDL312": "an export format cannot take the model (the layer is named), or its artefact "
        "does not reproduce the model",
        "NDL314": "the packages an export format needs are not installed",
    }


class NetdslInputError(NetdslDataError):
    """An input file that cannot be read or does not fit the model's input."""

    code = "NDL120"
    codes = {
        "NDL120": "a `predict` input that cannot be read or does not fit the model's input",
        "NDL121": "Pillow is needed to read images for `predict`",
    }


class NetdslWarning(NetdslError):
    """Not an error: something in a graph that is probably a mistake (``check`` succeeds and
    lists these on the plan's ``warnings``)."""

    code = "NDL018"
    kind = "warning"
    codes = {"NDL018": "a warning: a named tensor never used, or an input the network never reads"}


class EmitError(NetdslPluginError):
    """A component that netdsl cannot write as Keras code."""

    code = "NDL221"
    codes = {"NDL221": "a component netdsl cannot write as plain Keras code (`netdsl emit`)"}


class DiagramError(NetdslError):
    """A diagram that cannot be made here (an unknown format, Graphviz missing)."""

    code = "NDL400"
    codes = {"NDL400": "a diagram that cannot be made here (unknown format, Graphviz missing)"}


class ServeError(NetdslError):
    """``netdsl serve`` cannot start: the web extra is missing, or the address cannot be used."""

    code = "NDL430"
    codes = {
        "NDL430": "`netdsl serve` needs the web extra (Starlette, uvicorn), which is not installed",
        "NDL431": "`netdsl serve` cannot listen on the address (in use, not this machine's, no permission)",
    }


class StudioError(NetdslError):
    """A ``netdsl studio`` request it refuses: a path outside its folder, an unknown run."""

    code = "NDL410"
    codes = {"NDL410": "a studio request for a file outside its folder, or an unknown run"}


def error_codes() -> dict[str, tuple[str, str]]:
    """Every code: ``{code: (error class name, meaning)}``, from the classes that own them."""
    out: dict[str, tuple[str, str]] = {}
    todo = list(NetdslError.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for code, meaning in cls.__dict__.get("codes", {}).items():
            out[code] = (cls.__name__, meaning)
    return dict(sorted(out.items()))


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
