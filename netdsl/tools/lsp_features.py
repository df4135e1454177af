"""What the language server knows about one document, without any transport.

:class:`Analysis` parses and checks a text once and answers the editor's questions from that
one pass: diagnostics, completion, hover, go to definition, document symbols, formatting and
quick fixes. Everything returns :mod:`lsprotocol` types; :mod:`netdsl.tools.lsp` only wires them to
pygls. Pure Python: no TensorFlow (the checker never builds a model).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from lsprotocol import types as lsp

from ..errors import NetdslError, Span
from ..lang import ir
from ..vocab.isolation import interrupt_count, is_users
from ..vocab.registry import Registry
from .lsp_graph import GraphNames, defined_before

__all__ = ["FIX_PATTERN", "Analysis", "Positions", "analyze", "settings_params"]

#: the help text of a "did you mean" error; the code action replaces the span with the name
FIX_PATTERN = re.compile(r"^did you mean `([^`]+)`\?$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIXABLE = re.compile(r'^"?[A-Za-z_][A-Za-z0-9_]*"?$')
_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
  | (?P<nl>\r?\n)
  | (?P<arrow>->)
  | (?P<call>[A-Za-z_][A-Za-z0-9_]*\()
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"([^"\\\n]|\\.)*"?)
  | (?P<number>-?[0-9.][0-9A-Za-z_.+-]*)
  | (?P<punct>[()\[\]|,=:*])
  | (?P<space>[ \t\r]+)
  | (?P<other>.)
""",
    re.X,
)
_KIND_ITEM = {
    "layer": lsp.CompletionItemKind.Class,
    "activation": lsp.CompletionItemKind.Function,
    "regularizer": lsp.CompletionItemKind.Function,
    "optimizer": lsp.CompletionItemKind.Module,
    "loss": lsp.CompletionItemKind.Function,
    "metric": lsp.CompletionItemKind.Function,
    "dataset": lsp.CompletionItemKind.Module,
}


def settings_params() -> dict[str, Any]:
    """The settings a program may have (name -> its row of the settings table)."""
    from ..vocab.settings import TABLE

    return dict(TABLE)


class Positions:
    """Character offsets <-> LSP positions for one text, in the negotiated encoding."""

    #: positions found by counting line breaks before the table of line starts is built: a
    #: document refused for its size (10 MB of line breaks) needs only a few, and the table
    #: would cost seconds and hundreds of MB
    COUNTED = 32

    def __init__(self, text: str, encoding: str = "utf-16") -> None:
        self.text = text
        self.encoding = encoding
        self._starts: list[int] | None = None
        self._counted = 0

    @property
    def starts(self) -> list[int]:
        """The offset where each line starts (built on first use)."""
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer(r"\n", self.text)]
        return self._starts

    def _units(self, s: str) -> int:
        if self.encoding == "utf-32" or s.isascii():
            return len(s)
        if self.encoding == "utf-8":
            return len(s.encode("utf-8", "surrogatepass"))
        return len(s.encode("utf-16-le", "surrogatepass")) // 2

    def position(self, offset: int) -> lsp.Position:
        offset = max(0, min(offset, len(self.text)))
        if self._starts is None and self._counted < self.COUNTED:
            self._counted += 1
            start = self.text.rfind("\n", 0, offset) + 1
            return lsp.Position(
                self.text.count("\n", 0, offset), self._units(self.text[start:offset])
            )
        line = bisect_right(self.starts, offset) - 1
        return lsp.Position(line, self._units(self.text[self.starts[line] : offset]))

    def range(self, start: int, end: int) -> lsp.Range:
        return lsp.Range(self.position(start), self.position(max(start, end)))

    def span(self, span: Span | None) -> lsp.Range:
        if span is None:
            return self.range(0, 0)
        return self.range(span.start, span.end)

    def offset(self, pos: lsp.Position) -> int:
        if pos.line >= len(self.starts):
            return len(self.text)
        start = self.starts[max(pos.line, 0)]
        end = self.starts[pos.line + 1] - 1 if pos.line + 1 < len(self.starts) else len(self.text)
        line = self.text[start:end]
        if self.encoding == "utf-32" or line.isascii():
            return start + min(pos.character, len(line))
        units = 0
        for i, ch in enumerate(line):
            if units >= pos.character:
                return start + i
            units += self._units(ch)
        return end


class _Names:
    """The object :meth:`netdsl.vocab.types.ParamType.names` expects (it reads ``registry``)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry


def _walk(node: Any) -> Iterator[ir.Node]:
    """Every IR node under ``node``, parents before children."""
    if isinstance(node, ir.Node):
        yield node
        for f in fields(node):
            if f.name not in ("source", "comments"):
                yield from _walk(getattr(node, f.name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _walk(item)


def _inside(span: Span | None, offset: int) -> bool:
    return span is not None and span.start <= offset <= span.end


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


@dataclass
class _Frame:
    kind: (
        str  # "chain" (steps), "call" (a value call's arguments), "other" (tuple, list, block use)
    )
    expect_step: bool = True
    layer: str | None = None
    component: Any = None
    after_branches: bool = False
    at_start: bool = True  # no step yet: a tensor's or an input's name may start it


class Analysis:
    """One parse and check of a document; every editor feature reads from it."""

    def __init__(
        self,
        uri: str,
        text: str,
        registry: Registry,
        *,
        encoding: str = "utf-16",
        previous: ir.Program | None = None,
        known_inputs: Sequence[str] = (),
    ) -> None:
        from ..checking.checker import check
        from ..lang.parser import parse
        from ..lang.reparse import reparse
        from ..lang.space import has_space
        from ..vocab.settings import TABLE

        self.uri = uri
        self.text = text
        self.registry = registry
        self.pos = Positions(text, encoding)
        self.program: ir.Program | None = None
        self.model: Any = None
        self.space: Any = None
        self.errors: tuple[NetdslError, ...] = ()
        self.crash: str | None = None
        self._imported: dict[str, tuple[ir.BlockDef, str]] | None = None
        name = document_name(uri)
        before = interrupt_count()
        try:
            # after an edit, only the changed step is parsed again (the same program, faster)
            self.program = (
                parse(text, name, setting_names=TABLE)
                if previous is None
                else reparse(previous, text, name, setting_names=TABLE)
            )
            if has_space(self.program):  # every point checked; hover shows the parameters
                self.space, self.model, errors = _space_analysis(self.program, registry)
                self.errors = tuple(errors)
            else:
                self.model = check(self.program, registry)
        except NetdslError as e:
            self.errors = e.errors
            for err in (e, *e.errors):  # kept: their tracebacks would hold this frame, so `self`
                err.__traceback__ = None
        except BaseException as e:  # a plugin's bug (anything it raises) never stops the server
            if is_users(e, before):  # the user's own Ctrl-C stops the server
                raise
            self.crash = f"{type(e).__name__}: {e}"
        self._graph: GraphNames | None = None
        #: the data's input names: the model's, else the last analysis's (while one types)
        self.input_names = [i.name for i in getattr(self.model, "inputs", ()) or ()] or list(
            known_inputs
        )
        data = getattr(self.model, "data", None)  # a typed table: any column may start a chain
        columns = [c.name for c in getattr(data, "columns", ()) or ()]
        self.input_names += [n for n in columns if n not in self.input_names]

    @property
    def graph(self) -> GraphNames | None:
        """The graph's names and where they are written (None: no graph, or no parse)."""
        if self._graph is None and self.program is not None and self.program.is_graph:
            self._graph = GraphNames(self.program, self.model)
        return self._graph

    def _graph_name_at(self, offset: int, word: str) -> str | None:
        """The graph name under ``offset``: a mention of a tensor, an output, a shared chain or
        an input."""
        graph = self.graph
        if graph is None:
            return None
        m = graph.at(offset)
        return m.name if m is not None and m.name == word else None

    # --- diagnostics ----------------------------------------------------------------------------
    def diagnostics(self) -> list[lsp.Diagnostic]:
        """Every error as an LSP diagnostic: code, span, message, expected, help, notes."""
        out = []
        for e in self.errors:
            message = e.message
            if e.label and e.label not in message:
                message += f" ({e.label})"
            if e.expected and e.expected not in (e.label or "") and e.expected not in e.message:
                message += f"\nexpected: {e.expected}"
            if e.help:
                message += f"\nhelp: {e.help}"
            related = [
                lsp.DiagnosticRelatedInformation(self._location(n.span), n.label) for n in e.notes
            ]
            fix = FIX_PATTERN.match(e.help or "")
            data = None
            here = self._here(e.span)
            if not here:  # inside a library or plugin block: shown at its use in this file
                related.insert(0, lsp.DiagnosticRelatedInformation(self._location(e.span), "here"))
                message = f"{_where(e.span)}: {message}"
            elif (
                fix and e.span is not None and _FIXABLE.match(self.text[e.span.start : e.span.end])
            ):
                data = {"fix": fix.group(1)}
            out.append(
                lsp.Diagnostic(
                    range=self.pos.span(e.span) if here else self._use_range(e),
                    message=message,
                    severity=lsp.DiagnosticSeverity.Warning
                    if e.kind == "warning"
                    else lsp.DiagnosticSeverity.Error,
                    code=e.code,
                    source="netdsl",
                    related_information=related or None,
                    data=data,
                )
            )
        if self.crash:
            out.append(
                lsp.Diagnostic(
                    range=self.pos.range(0, 0),
                    severity=lsp.DiagnosticSeverity.Warning,
                    source="netdsl",
                    message=f"netdsl could not finish checking this file (a plugin failed?): {self.crash}",
                )
            )
        return out

    def _here(self, span: Span | None) -> bool:
        """Whether ``span`` is in this document (not in a library or a plugin's block)."""
        return span is None or span.file is None or span.file == document_name(self.uri)

    def _location(self, span: Span | None) -> lsp.Location:
        """Where ``span`` is: in this document, a library file, or a plugin block (whose text
        has no file: the location is this document's start)."""
        if self._here(span):
            return lsp.Location(self.uri, self.pos.span(span))
        assert span is not None and span.file is not None
        if span.file.startswith("<"):
            return lsp.Location(self.uri, self.pos.range(0, 0))
        return lsp.Location(Path(span.file).resolve().as_uri(), _line_range(span))

    def _use_range(self, e: NetdslError) -> lsp.Range:
        """For an error in another file: its note in this document (the block's use), else the
        first `use` line, else the start."""
        for n in e.notes:
            if self._here(n.span) and n.span.file is not None:
                return self.pos.span(n.span)
        if self.program is not None and self.program.uses:
            return self.pos.span(self.program.uses[0].span)
        return self.pos.range(0, 0)

    def imported_blocks(self) -> dict[str, tuple[ir.BlockDef, str]]:
        """The blocks of this program's libraries and of plugins, by name, with where each is
        (a library file, or ``<block NAME>`` for a plugin's), read once per analysis."""
        if self._imported is None:
            from ..checking.collector import Collector
            from ..checking.libraries import read_libraries
            from ..vocab.components import Block

            found: dict[str, tuple[ir.BlockDef, str]] = {}
            for entry in self.registry.entries("block"):
                c = entry.component
                if isinstance(c, Block) and c.definition() is not None:
                    found[c.name] = (c.definition(), c.file)
            program = self.program or ir.Program(  # text that does not parse: its `use` lines
                filename=document_name(self.uri),
                uses=tuple(ir.Use(m.group(1)) for m in _USE_LINE.finditer(self.text)),
            )
            for name, item in read_libraries(program, Collector()).blocks.items():
                found.setdefault(name, (item.block, item.file))
            self._imported = found
        return self._imported

    # --- code actions ---------------------------------------------------------------------------
    def code_actions(
        self, rng: lsp.Range, given: Sequence[lsp.Diagnostic] = ()
    ) -> list[lsp.CodeAction]:
        """A quick fix for each "did you mean" diagnostic touching ``rng``."""
        lo, hi = self.pos.offset(rng.start), self.pos.offset(rng.end)
        mine = self.diagnostics()
        out = []
        for d in mine:
            if not isinstance(d.data, dict) or "fix" not in d.data:
                continue
            start, end = self.pos.offset(d.range.start), self.pos.offset(d.range.end)
            if end < lo or start > hi:
                continue
            fix = str(d.data["fix"])
            old = self.text[start:end]
            new = f'"{fix}"' if old.startswith('"') else fix
            matching = [g for g in given if g.range == d.range and g.code == d.code] or [d]
            out.append(
                lsp.CodeAction(
                    title=f"Replace `{old.strip(chr(34))}` with `{fix}`",
                    kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=matching,
                    is_preferred=True,
                    edit=lsp.WorkspaceEdit(changes={self.uri: [lsp.TextEdit(d.range, new)]}),
                )
            )
        return out

    # --- formatting -----------------------------------------------------------------------------
    def formatting(self) -> list[lsp.TextEdit] | None:
        """``netdsl fmt``'s output as one edit (None when the text does not parse)."""
        from ..lang.formatter import format as format_program

        if self.program is None:
            return None
        text = format_program(self.program)
        if "\r\n" in self.text:
            text = text.replace("\n", "\r\n")
        if text == self.text:
            return []
        return [lsp.TextEdit(self.pos.range(0, len(self.text)), text)]

    # --- symbols and definition -----------------------------------------------------------------
    def symbols(self) -> list[lsp.DocumentSymbol]:
        """Settings, blocks and the network, with the network's steps as children."""
        from ..lang.formatter import format_chain, format_step, format_value

        p = self.program
        if p is None:
            return []
        out = []
        for s in p.settings:
            out.append(
                lsp.DocumentSymbol(
                    name=s.key,
                    detail=format_value(s.value),
                    kind=lsp.SymbolKind.Property,
                    range=self.pos.span(s.span),
                    selection_range=self.pos.span(s.key_span or s.span),
                )
            )
        for b in p.blocks:
            out.append(
                lsp.DocumentSymbol(
                    name=b.name + (f"({', '.join(b.params)})" if b.params else ""),
                    detail=format_chain(b.body),
                    kind=lsp.SymbolKind.Function,
                    range=self.pos.span(b.span),
                    selection_range=self.pos.span(b.name_span or b.span),
                )
            )
        for g in p.bindings:  # a graph's named chains
            out.append(
                lsp.DocumentSymbol(
                    name=g.name,
                    detail=("" if g.kind == "tensor" else f"{g.kind} ") + format_chain(g.chain),
                    kind=lsp.SymbolKind.Variable,
                    range=self.pos.span(g.span),
                    selection_range=self.pos.span(g.name_span or g.span),
                )
            )
        if p.network is not None:
            steps = [
                lsp.DocumentSymbol(
                    name=format_step(st),
                    kind=lsp.SymbolKind.Field,
                    range=self.pos.span(st.span),
                    selection_range=self.pos.span(getattr(st, "name_span", None) or st.span),
                )
                for st in p.network.steps
            ]
            detail = None
            if self.model is not None:
                detail = f"{len(self.model.nodes)} layers, {self.model.total_params:,} parameters"
            out.append(
                lsp.DocumentSymbol(
                    name="network",
                    detail=detail,
                    kind=lsp.SymbolKind.Class,
                    range=self.pos.span(p.network.span),
                    selection_range=self.pos.span(
                        p.network.steps[0].span if p.network.steps else p.network.span
                    ),
                    children=steps,
                )
            )
        return out

    def definition(self, position: lsp.Position) -> lsp.Location | None:
        """From a block use (or any mention of a block's name) to its ``block`` line."""
        word, start, _ = self.word_at(position)
        if not word:
            return None
        graph_name = self._graph_name_at(start, word)
        if graph_name is not None and self.graph is not None:
            span = self.graph.definition(graph_name)
            return lsp.Location(self.uri, self.pos.span(span)) if span else None
        if self.program is not None:
            for b in self.program.blocks:
                if b.name == word:
                    return lsp.Location(self.uri, self.pos.span(b.name_span or b.span))
            found = self.imported_blocks().get(word)
            if found is not None and not found[1].startswith("<"):  # a plugin's has no file
                return self._location(found[0].name_span)
            return None
        m = re.search(
            rf"^[ \t]*block[ \t]+({re.escape(word)})\b", self.text, re.M
        )  # text that does not parse
        return lsp.Location(self.uri, self.pos.range(m.start(1), m.end(1))) if m else None

    def word_at(self, position: lsp.Position) -> tuple[str, int, int]:
        offset = self.pos.offset(position)
        for m in _WORD.finditer(self.text, max(0, offset - 64), min(len(self.text), offset + 64)):
            if m.start() <= offset <= m.end():
                return m.group(), m.start(), m.end()
        return "", offset, offset

    # --- hover ----------------------------------------------------------------------------------
    def hover(self, position: lsp.Position) -> lsp.Hover | None:
        """A layer: its help, bound arguments, output shape and parameters; a name: its help."""
        word, start, end = self.word_at(position)
        if not word:
            return None
        rng = self.pos.range(start, end)
        graph_name = self._graph_name_at(start, word)
        if graph_name is not None and self.graph is not None:
            text = self.graph.hover(graph_name)
            if text:
                return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), rng)
        found = self._space_hover(start)
        if found:
            return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, found), rng)
        layer = self._layer_named_at(start)
        if layer is not None:
            text = self._layer_hover(layer)
            if text:
                return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), rng)
        text = self._name_hover(word, start)
        if text:
            return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), rng)
        return None

    def _space_hover(self, offset: int) -> str | None:
        """On a ``choice``/``range`` of a search space: the parameter, its options or range."""
        if self.space is None:
            return None
        inside = [p for p in self.space.params if _inside(p.span, offset)]
        if not inside:
            return None
        p = min(inside, key=lambda q: q.span.end - q.span.start)  # the innermost
        lines = [f"**search parameter** `{p.name}`", "", f"`{p.describe()}`"]
        if p.options:
            lines += ["", f"{len(p.options)} options:"]
            lines += [f"- `{p.option_text(i)}`" for i in range(len(p.options))]
        elif p.count is not None:
            lines += ["", f"{p.count:,} values" + (" (log scale)" if p.log else "")]
        else:
            lines += ["", "real values" + (" on a log scale" if p.log else "")]
        if p.parent is not None:
            parent = self.space.param(p.parent[0])
            lines += ["", f"only when `{parent.name}` is `{parent.option_text(p.parent[1])}`"]
        size, continuous = self.space.size()
        lines += ["", f"the space: {size:,} points" + (" and real ranges" if continuous else "")]
        return "\n".join(lines)

    def _layer_named_at(self, offset: int) -> ir.Layer | None:
        if self.program is None:
            return None
        for node in _walk(self.program):
            if (
                isinstance(node, ir.Layer)
                and node.name_span is not None
                and node.name_span.start <= offset < node.name_span.end
            ):
                return node
        return None

    def _layer_hover(self, layer: ir.Layer) -> str | None:
        blocks = {b.name: (b, "") for b in self.program.blocks} if self.program else {}
        if layer.name not in blocks and layer.name in self.imported_blocks():
            b, where = self.imported_blocks()[layer.name]
            entry = self.registry.entry("block", layer.name)
            origin = f"shipped by {entry.provider}" if entry else f"from {where}"
            blocks[layer.name] = (b, origin)
        if layer.name in blocks:
            from ..lang.formatter import format_chain

            b, origin = blocks[layer.name]
            head = f"block {b.name}" + (f"({', '.join(b.params)})" if b.params else "")
            text = f"```netdsl\n{head} = {format_chain(b.body)}\n```"
            return f"{text}\n\n{_markdown(origin)}" if origin else text
        component = self.registry.get("layer", layer.name)
        if component is None:
            return None
        # what this layer is in this program first (a hover window shows its top), then the reference
        head, params = self._component_parts(component)
        parts = [head]
        if self.model is not None and layer.span is not None:
            nodes = [n for n in self.model.nodes if n.span == layer.span and not n.implicit]
            if len(nodes) > 1:
                parts.append(f"used {len(nodes)} times in this program")
            for n in nodes[:4]:
                defaults = {p.name: p.default for p in component.params}
                args = ", ".join(
                    f"{k}={_show(v)}"
                    for k, v in n.args
                    if k not in defaults or _show(defaults[k]) != _show(v)
                )
                shape = (
                    "("
                    + ", ".join("None" if d is None else str(d) for d in (None, *n.output_shape))
                    + ")"
                )
                parts.append(f"`{n.layer}({args})`  \noutput `{shape}`, {n.params:,} parameters")
        elif self.errors:
            parts.append("_shape and parameters: fix the errors first_")
        return "\n\n".join([*parts, params] if params else parts)

    def _component_doc(self, component: Any) -> str:
        return "\n\n".join(part for part in self._component_parts(component) if part)

    @staticmethod
    def _component_parts(component: Any) -> tuple[str, str]:
        """A component's title and help, and the list of its parameters (empty if none)."""
        head = f"**{component.name}** ({component.kind})"
        if component.description:
            head += "\n" + _markdown(component.description.strip())
        source = getattr(component, "source", None)
        if component.kind == "block" and isinstance(source, str):
            return head, f"```netdsl\n{source}\n```"  # a plugin's block: its netdsl text
        lines = []
        for p in component.params:
            default = "" if p.required else f" = {_show(p.default)}"
            pos = ", positional" if p.positional else ""
            lines.append(
                f"- `{p.name}`: {p.type.label}{pos}{default}"
                + (f" — {_markdown(p.help)}" if p.help else "")
            )
        return head, "\n".join(lines)

    def _tensor_hover(self, word: str) -> str | None:
        """A graph's named tensor or input: what it is and its shape."""
        model = self.model
        if model is None or not model.is_graph:
            return None
        from ..checking.graph import format_shape

        for i in model.inputs:
            if i.name == word:
                return f"**{word}** (input of `{model.dataset.name}`): {format_shape(i.shape)}"
        node = dict(model.tensors).get(word)
        if node is None:
            return None
        shape = model.nodes[node].output_shape if node >= 0 else model.inputs[-1 - node].shape
        output = next((o for o in model.outputs if o.name == word), None)
        what = "output" if output is not None else "tensor"
        return f"**{word}** ({what}): {format_shape(shape)}"

    def _name_hover(self, word: str, offset: int) -> str | None:
        tensor = self._tensor_hover(word)
        if tensor is not None:
            return tensor
        rows = settings_params()
        line_start = self.text.rfind("\n", 0, offset) + 1
        if word in rows and re.match(rf"[ \t]*{word}[ \t]*:", self.text[line_start:]):
            p = rows[word]
            default = "" if p.default is None else f" (default `{_show(p.default)}`)"
            return f"**{word}** (setting): {p.type.label}{default}\n\n{_markdown(p.help)}"
        docs = []
        for kind in self.registry.kinds_of(word):
            component = self.registry.get(kind, word)
            if component is not None:
                docs.append(self._component_doc(component))
        return "\n\n---\n\n".join(docs) or None

    # --- rename ---------------------------------------------------------------------------------
    def prepare_rename(self, position: lsp.Position) -> lsp.Range | None:
        """The name a rename at ``position`` would change: a tensor's, an output's or a shared
        chain's (an input's name comes from the data: not renamed here)."""
        word, start, end = self.word_at(position)
        name = self._graph_name_at(start, word) if word else None
        if name is None or self.graph is None or name not in self.graph.bindings:
            return None
        return self.pos.range(start, end)

    def rename(self, position: lsp.Position, new_name: str) -> lsp.WorkspaceEdit | None:
        """The edits renaming the graph name at ``position``: its definition, every use, and
        an output's keys in per-output settings. Raises :class:`RenameRefused` saying why not."""
        word, start, _ = self.word_at(position)
        name = self._graph_name_at(start, word) if word else None
        if name is None or self.graph is None:
            return None
        problem = self.graph.rename_problem(name, new_name)
        if problem is None and (
            self.registry.get("layer", new_name) is not None
            or any(b.name == new_name for b in (self.program.blocks if self.program else ()))
        ):
            problem = f"`{new_name}` is already a layer's or a block's name"
        if problem is not None:
            raise RenameRefused(problem)
        edits = [
            lsp.TextEdit(self.pos.span(m.span), new_name)
            for m in sorted(self.graph.of(name), key=lambda m: m.span.start)
        ]
        return lsp.WorkspaceEdit(changes={self.uri: edits})

    # --- completion -----------------------------------------------------------------------------
    def completion(self, position: lsp.Position) -> list[lsp.CompletionItem]:
        """What may be typed at ``position``: see :class:`Completion`."""
        return Completion(
            self.text,
            self.pos,
            self.program,
            self.registry,
            self.input_names,
            self.imported_blocks,
        ).complete(position)


class RenameRefused(ValueError):
    """A rename that would break the program (the message says why)."""


class Completion:
    """Completion items at a position of one document: the statement's tokens so far decide
    whether a setting key or value, a layer, an argument or a block name comes next."""

    def __init__(
        self,
        text: str,
        pos: Positions,
        program: ir.Program | None,
        registry: Registry,
        inputs: Sequence[str] = (),
        imported: Callable[[], dict[str, tuple[ir.BlockDef, str]]] = dict,
    ) -> None:
        self.text = text
        self.pos = pos
        self.program = program
        self.registry = registry
        self.inputs = list(inputs)  # the data's input names (known when the program checks)
        self.offset = 0
        self.imported_blocks = imported  # library and plugin blocks, asked only when needed

    def complete(self, position: lsp.Position) -> list[lsp.CompletionItem]:
        """Names that fit where the cursor is (see the module doc), each with its one-line help."""
        offset = self.pos.offset(position)
        prefix_start = offset
        while prefix_start > 0 and (
            self.text[prefix_start - 1].isalnum() or self.text[prefix_start - 1] == "_"
        ):
            prefix_start -= 1
        self.offset = prefix_start
        tokens = self._statement_tokens(prefix_start)
        if not tokens:
            return self._statement_start()
        first, second = tokens[0], tokens[1] if len(tokens) > 1 else ("", "")
        if first[0] == "name" and second == ("punct", ":"):
            return self._setting_value(first[1], tokens[2:])
        if first == ("name", "block"):
            if ("punct", "=") not in tokens:
                return []
            tokens = tokens[tokens.index(("punct", "=")) + 1 :]
        elif first in (("name", "output"), ("name", "shared")) or second == ("punct", "="):
            if ("punct", "=") not in tokens:  # `output NAME`, `shared NAME` being typed
                return []
            tokens = tokens[tokens.index(("punct", "=")) + 1 :]  # a binding: its chain
        return self._in_chain(tokens)

    def _graph_items(self, starts: bool) -> list[lsp.CompletionItem]:
        """The graph names a step may be here: shared chains anywhere a step goes; tensors
        (and outputs) and the data's inputs where a chain or a merge branch starts."""
        named = defined_before(self.text, self.offset)
        items = []
        for name, kind in named:
            if kind != "shared" and not starts:
                continue
            items.append(
                lsp.CompletionItem(
                    label=name,
                    kind=lsp.CompletionItemKind.Variable
                    if kind != "shared"
                    else lsp.CompletionItemKind.Reference,
                    detail=f"{'tensor' if kind == 'tensor' else kind} defined above",
                    sort_text=f"0{name}",
                )
            )
        if starts:
            taken = {n for n, _ in named}
            items += [
                lsp.CompletionItem(
                    label=name,
                    kind=lsp.CompletionItemKind.Variable,
                    detail="input of the data",
                    sort_text=f"0{name}",
                )
                for name in self.inputs
                if name not in taken
            ]
        return items

    def _statement_tokens(self, upto: int) -> list[tuple[str, str]]:
        """The tokens of the statement the cursor is in, up to the word being typed."""
        toks: list[tuple[str, str]] = []
        depth = 0
        for m in _TOKEN.finditer(self.text, 0, upto):
            kind = m.lastgroup or "other"
            value = m.group()
            if kind in ("space", "comment"):
                continue
            if kind == "nl":
                if depth == 0 and (not toks or toks[-1] != ("arrow", "->")):
                    toks.append(("nl", ""))
                continue
            if kind == "arrow" and toks and toks[-1] == ("nl", ""):
                toks.pop()  # `->` at the start of a line continues the statement
            if kind == "call" or value in ("(", "["):
                depth += 1
            elif value in (")", "]"):
                depth = max(0, depth - 1)
            toks.append((kind, value))
        last_nl = max((i for i, t in enumerate(toks) if t[0] == "nl"), default=-1)
        return toks[last_nl + 1 :]

    def _item(self, name: str, kind: str, *, sort: str = "1") -> lsp.CompletionItem:
        component = self.registry.get(kind, name)
        doc = (
            _first_line(component.description)
            if component is not None and component.description
            else ""
        )
        return lsp.CompletionItem(
            label=name,
            kind=_KIND_ITEM.get(kind, lsp.CompletionItemKind.Value),
            detail=f"{kind}" + (f" — {doc}" if doc else ""),
            documentation=doc or None,
            sort_text=f"{sort}{name}",
        )

    def _names_of(self, kinds: Sequence[str], sort: str = "1") -> list[lsp.CompletionItem]:
        return [self._item(n, k, sort=sort) for k in kinds for n in self.registry.names(k)]

    def _block_items(self) -> list[lsp.CompletionItem]:
        blocks: list[tuple[str, tuple[str, ...]]] = []
        if self.program is not None:
            blocks = [(b.name, b.params) for b in self.program.blocks]
        else:
            for m in re.finditer(
                r"^[ \t]*block[ \t]+([A-Za-z_]\w*)(?:\(([^)]*)\))?", self.text, re.M
            ):
                blocks.append(
                    (
                        m.group(1),
                        tuple(x.strip() for x in (m.group(2) or "").split(",") if x.strip()),
                    )
                )
        local = {name for name, _ in blocks}
        imported = [
            (name, b.params, f"a block from {where}")
            for name, (b, where) in sorted(self.imported_blocks().items())
            if name not in local
        ]
        return [
            lsp.CompletionItem(
                label=name,
                kind=lsp.CompletionItemKind.Snippet if params else lsp.CompletionItemKind.Reference,
                detail="block" + (f"({', '.join(params)})" if params else ""),
                documentation=doc,
                sort_text=f"0{name}",
            )
            for name, params, doc in [
                *((n, p, "a block defined in this file") for n, p in blocks),
                *imported,
            ]
        ]

    def _statement_start(self) -> list[lsp.CompletionItem]:
        items = []
        for key, p in settings_params().items():
            items.append(
                lsp.CompletionItem(
                    label=f"{key}:",
                    kind=lsp.CompletionItemKind.Property,
                    insert_text=f"{key}: ",
                    filter_text=key,
                    detail=f"setting — {p.type.label}",
                    documentation=p.help,
                    sort_text=f"2{key}",
                )
            )
        items.append(
            lsp.CompletionItem(
                label="block",
                kind=lsp.CompletionItemKind.Keyword,
                insert_text="block ",
                detail="define a block: block NAME(params) = chain",
                sort_text="3block",
            )
        )
        for word, what in (
            ("output", "an output: output NAME = chain (named like a target of the data)"),
            ("shared", "a shared chain: shared NAME = chain (one set of weights for every use)"),
        ):
            items.append(
                lsp.CompletionItem(
                    label=word,
                    kind=lsp.CompletionItemKind.Keyword,
                    insert_text=f"{word} ",
                    detail=what,
                    sort_text=f"3{word}",
                )
            )
        graph = self._graph_items(starts=True)
        return items + graph + self._block_items() + self._names_of(["layer"])

    def _setting_value(self, key: str, tokens: list[tuple[str, str]]) -> list[lsp.CompletionItem]:
        param = settings_params().get(key)
        if param is None:
            return []
        typ = param.type
        while getattr(typ, "kind", None) is None and getattr(typ, "item", None) is not None:
            typ = typ.item  # a list, or a value per output, of references
        kind = getattr(typ, "kind", None)
        calls = []
        depth = 0
        for k, v in tokens:
            if k == "call":
                calls.append((v[:-1], depth))
                depth += 1
            elif v in ("(", "["):
                depth += 1
            elif v in (")", "]"):
                depth -= 1
                calls = [c for c in calls if c[1] < depth]
        if calls and kind:
            component = self.registry.get(kind, calls[-1][0])
            return self._args_of(component, tokens) if component is not None else []
        return self._names_of([kind]) if kind else []

    def _args_of(
        self, component: Any, tokens: list[tuple[str, str]], given: Sequence[str] = ()
    ) -> list[lsp.CompletionItem]:
        """Inside a layer or a call: after ``key=`` the names that key takes, else parameters and
        the names the positional parameters take."""
        names = _Names(self.registry)
        if len(tokens) >= 2 and tokens[-1] == ("punct", "=") and tokens[-2][0] == "name":
            p = component.param(tokens[-2][1])
            return self._param_values(p, names) if p is not None else []
        items = []
        for p in component.params:
            if p.name in given:
                continue
            default = "required" if p.required else f"default {_show(p.default)}"
            items.append(
                lsp.CompletionItem(
                    label=f"{p.name}=",
                    kind=lsp.CompletionItemKind.Field,
                    insert_text=f"{p.name}=",
                    filter_text=p.name,
                    detail=f"{p.type.label}, {default}",
                    documentation=p.help or None,
                    sort_text=f"2{p.name}",
                )
            )
        for p in component.params:
            if p.positional and p.name not in given:
                items += self._param_values(p, names)
        return items

    def _param_values(self, p: Any, names: _Names) -> list[lsp.CompletionItem]:
        kind = getattr(p.type, "kind", None)
        out = []
        try:
            values = p.type.names(names)
        except Exception:  # noqa: BLE001 - a plugin's own parameter type
            values = []
        for v in dict.fromkeys(values):
            kinds = [kind] if kind else list(self.registry.kinds_of(v))
            if kinds and kinds[0]:
                out.append(self._item(v, kinds[0]))
            else:
                out.append(
                    lsp.CompletionItem(
                        label=v,
                        kind=lsp.CompletionItemKind.EnumMember,
                        detail=f"option of `{p.name}`",
                        sort_text=f"1{v}",
                    )
                )
        return out

    def _in_chain(self, tokens: list[tuple[str, str]]) -> list[lsp.CompletionItem]:
        stack = [_Frame("chain")]
        step_start = 0
        for i, (kind, value) in enumerate(tokens):
            top = stack[-1]
            if kind == "arrow" or value == "|" or (value == "," and top.kind == "chain"):
                top.expect_step, top.layer, top.component, top.after_branches = (
                    True,
                    None,
                    None,
                    False,
                )
                top.at_start = value == "|"  # a merge branch starts anew
            elif kind == "call":
                name = value[:-1]
                if top.kind == "chain" and top.expect_step:
                    is_block = any(b.label == name for b in self._block_items())
                    stack.append(_Frame("other" if is_block else "chain", at_start=False))
                    top.expect_step, top.layer = False, name
                else:
                    comp = None
                    for k in self.registry.kinds_of(name):
                        if k != "layer":
                            comp = self.registry.get(k, name)
                            break
                    stack.append(_Frame("call", False, name, comp))
            elif value in ("(", "["):
                step = top.kind == "chain" and top.expect_step
                stack.append(_Frame("chain" if step else "other", step, at_start=value == "["))
                if step:
                    top.expect_step = False
                    top.after_branches = value == "["
                    top.at_start = False
            elif value in (")", "]"):
                if len(stack) > 1:
                    stack.pop()
            elif kind == "name" and top.kind == "chain" and (top.expect_step or top.after_branches):
                top.expect_step, top.after_branches, top.layer = False, False, value
                top.component = self.registry.get("layer", value)
                top.at_start = False
                step_start = i + 1
        top = stack[-1]
        if top.kind == "chain" and (top.expect_step or top.after_branches):
            layers = self._names_of(["layer"])
            if top.after_branches:
                return [
                    i
                    for i in layers
                    if getattr(self.registry.get("layer", i.label), "merge", False)
                ]
            graph = self._graph_items(starts=top.at_start)
            return graph + self._block_items() + layers
        if top.kind == "chain" and top.component is not None:
            rest = tokens[step_start:]
            keys = [
                t[1]
                for i, t in enumerate(rest[:-1])
                if t[0] == "name" and rest[i + 1] == ("punct", "=")
            ]
            return self._args_of(top.component, tokens, keys)
        if top.kind == "call" and top.component is not None:
            return self._args_of(top.component, tokens)
        return []


def _space_analysis(program: ir.Program, registry: Registry) -> tuple[Any, Any, list[Any]]:
    """A search space's parameters, its first passing point's plan (for hover on layers) and
    the errors its static check found (each failing combination at its spans)."""
    from ..lang.space import extract
    from ..search.check import check_space
    from ..search.settings import read_tune_settings

    space = extract(program)
    errors: list[Any] = []
    try:
        max_params = read_tune_settings(space.tune).max_params
    except NetdslError as e:
        errors.extend(e.errors)
        max_params = None
    report = check_space(space, registry, max_params=max_params)
    return space, report.example, [*errors, *report.errors]


def _markdown(text: str) -> str:
    """Plain help text as Markdown: ``_``, ``*`` and ``\\`` outside `code spans` are escaped, so
    ``kernel_size`` in a sentence is not read as emphasis."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside code spans
        parts[i] = re.sub(r"([\\_*])", r"\\\1", parts[i])
    return "`".join(parts)


def _show(value: Any) -> str:
    from ..vocab.components import Ref

    if isinstance(value, Ref):
        args = ", ".join(f"{k}={_show(v)}" for k, v in value.args)
        return f"{value.name}({args})" if args else value.name
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value)


#: a `use` line of a text that does not parse (a plain path, no escapes)
_USE_LINE = re.compile(r'^[ \t]*use[ \t]+"([^"\\\n]*)"', re.M)


def _line_range(span: Span) -> lsp.Range:
    """A span of another file as an LSP range, from its lines and columns (1-based)."""
    return lsp.Range(
        lsp.Position(span.line - 1, span.column - 1),
        lsp.Position(span.end_line - 1, span.end_column - 1),
    )


def _where(span: Span | None) -> str:
    return f"{span.file}:{span.line}:{span.column}" if span is not None else ""


def document_name(uri: str) -> str | None:
    """The program's file name for ``uri``: the full path of a ``file:`` document (a dataset's
    relative path resolves against its folder, as ``netdsl check`` does), else the last part."""
    parsed = urlparse(uri)
    if parsed.scheme == "file" and parsed.path:
        return url2pathname(unquote(parsed.path))
    return uri.rsplit("/", 1)[-1] or None


def analyze(
    uri: str,
    text: str,
    registry: Registry,
    encoding: str = "utf-16",
    previous: ir.Program | None = None,
    known_inputs: Sequence[str] = (),
) -> Analysis:
    """Parse and check ``text`` once (never raises); ``previous``: the program of the text
    before an edit, if it parsed (see :func:`netdsl.lang.reparse.reparse`); ``known_inputs``:
    the data's input names an earlier analysis found (completion offers them meanwhile)."""
    return Analysis(
        uri, text, registry, encoding=encoding, previous=previous, known_inputs=known_inputs
    )
