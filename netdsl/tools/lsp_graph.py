"""The language server on a graph's names: named tensors, outputs, shared chains and the data's
inputs resolve to their definition, hover with their shape, and rename everywhere they are
written (the definition, every use, and an output's keys in per-output settings).

Pure Python over the parsed program and, when it checks, the checked model (for shapes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import Span
from ..lang import ir

__all__ = ["GraphNames", "Mention", "defined_before", "is_identifier"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: a binding's line, for a text that does not parse: ``[output|shared] NAME =``
_BINDING_LINE = re.compile(
    r"^[ \t]*(?:(?P<kind>output|shared)[ \t]+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)[ \t]*=(?!=)", re.M
)
#: words a name may not be: they start statements or are the language's values
KEYWORDS = frozenset({"output", "shared", "block", "true", "false"})


def is_identifier(name: str) -> bool:
    return bool(_IDENT.match(name))


@dataclass(frozen=True)
class Mention:
    """Where a graph name is written: ``definition`` (``NAME = ...``), ``use`` (a chain or a
    merge branch starts with it, or a shared chain used as a step) or ``key`` (a per-output
    setting's key, ``loss: {NAME: ...}``)."""

    name: str
    span: Span
    role: str


def _walk(node: Any) -> Iterator[ir.Node]:
    if isinstance(node, ir.Node):
        yield node
        for name in getattr(node, "__dataclass_fields__", {}):
            if name not in ("source", "comments"):
                yield from _walk(getattr(node, name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _walk(item)


def _is_reference(step: Any) -> bool:
    return isinstance(step, ir.Layer) and not step.args and not step.body and not step.call


class GraphNames:
    """Every graph name of one program and where each is written."""

    def __init__(self, program: ir.Program, model: Any = None) -> None:
        self.program = program
        self.model = model
        self.bindings: dict[str, ir.Binding] = {}
        for b in reversed(program.bindings):  # the first definition wins when one is twice
            self.bindings[b.name] = b
        self.inputs: dict[str, Any] = {i.name: i for i in (getattr(model, "inputs", ()) or ())}
        self.mentions = list(self._mentions())

    def _mentions(self) -> Iterator[Mention]:
        for b in self.program.bindings:
            if b.name_span is not None:
                yield Mention(b.name, b.name_span, "definition")
        for node in _walk((self.program.bindings, self.program.network, self.program.blocks)):
            if (
                isinstance(node, ir.Layer)
                and _is_reference(node)
                and node.name_span is not None
                and (node.name in self.bindings or node.name in self.inputs)
            ):
                yield Mention(node.name, node.name_span, "use")
        outputs = {b.name for b in self.program.bindings if b.kind == "output"}
        for setting in self.program.settings:
            if isinstance(setting.value, ir.Map):
                for item in setting.value.items:
                    if item.key in outputs and item.key_span is not None:
                        yield Mention(item.key, item.key_span, "key")

    def at(self, offset: int) -> Mention | None:
        """The mention under ``offset`` (its name's characters, or just after them)."""
        for m in self.mentions:
            if m.span.start <= offset <= m.span.end:
                return m
        return None

    def of(self, name: str) -> list[Mention]:
        return [m for m in self.mentions if m.name == name]

    def definition(self, name: str) -> Span | None:
        """A binding's name; an input's: the ``dataset:`` value (inputs are named by the data)."""
        b = self.bindings.get(name)
        if b is not None:
            return b.name_span or b.span
        if name in self.inputs:
            setting = self.program.setting("dataset")
            return setting.value.span if setting is not None else None
        return None

    # --- hover --------------------------------------------------------------------------------
    def hover(self, name: str) -> str | None:
        """Markdown: what the name is, its chain, and its shape (when the program checks)."""
        from ..lang.formatter import format_chain

        if name in self.inputs:
            i = self.inputs[name]
            dataset = self.model.dataset.name
            kind = getattr(i, "kind", "numeric")
            what = "" if kind == "numeric" else f", {kind}"
            ids = getattr(i, "vocabulary", None)
            ids_text = f", ids below {ids:,}" if ids is not None else ""
            return f"**{name}** (input of `{dataset}`{what}): {_shape(i.shape)}{ids_text}"
        b = self.bindings.get(name)
        if b is None:
            return None
        what = {"tensor": "tensor", "output": "output", "shared": "shared chain"}[b.kind]
        shape = self._shape(b)
        title = f"**{name}** ({what})" + (f": {shape}" if shape else "")
        head = "" if b.kind == "tensor" else f"{b.kind} "
        parts = [title, f"```netdsl\n{head}{name} = {format_chain(b.chain)}\n```"]
        if self.model is None:
            parts.append("_shape: fix the errors first_")
        uses = sum(1 for m in self.of(name) if m.role == "use")
        parts.append(f"used {uses} time{'s' * (uses != 1)}")
        return "\n\n".join(parts)

    def _shape(self, b: ir.Binding) -> str | None:
        model = self.model
        if model is None:
            return None
        if b.kind == "output":
            out = next((o for o in model.outputs if o.name == b.name), None)
            return _shape(out.shape) if out is not None else None
        if b.kind == "shared":
            return self._shared_shape(b)
        node = dict(getattr(model, "tensors", ())).get(b.name)
        if node is None or node >= len(model.nodes) or -1 - node >= len(model.inputs):
            return None
        # a tensor that names an input (``-1 - i``) has the input's shape
        shape = model.nodes[node].output_shape if node >= 0 else model.inputs[-1 - node].shape
        return _shape(shape)

    def _shared_shape(self, b: ir.Binding) -> str | None:
        """A shared chain's input and output shapes and its parameters (of its first use)."""
        span = b.chain.span
        if span is None:
            return None
        nodes = [
            n
            for n in self.model.nodes
            if n.span is not None and span.start <= n.span.start and n.span.end <= span.end
        ]
        first = [n for n in nodes if n.shares is None]
        if not first:
            return None
        params = sum(n.params for n in first)
        return f"{_shape(first[-1].output_shape)}, {params:,} parameters (once)"

    # --- rename -------------------------------------------------------------------------------
    def rename_problem(self, name: str, new: str) -> str | None:
        """Why ``name`` cannot become ``new`` (None: it can)."""
        if name in self.inputs and name not in self.bindings:
            return f"`{name}` is an input: its name comes from the data, not from this file"
        if name not in self.bindings:
            return f"`{name}` is not a name this file defines"
        if not is_identifier(new) or new in KEYWORDS:
            return f"`{new}` is not a name (letters, digits and _, not a keyword)"
        if new != name and (new in self.bindings or new in self.inputs):
            return f"`{new}` is already a name in this program"
        return None


def _shape(shape: Any) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in (None, *shape)) + ")"


def defined_before(text: str, offset: int) -> list[tuple[str, str]]:
    """The names bound above ``offset``, as ``(name, kind)``; read from the text, so that
    completion works while the line being typed does not parse."""
    out: dict[str, str] = {}
    for m in _BINDING_LINE.finditer(text, 0, offset):
        line_end = text.find("\n", m.end())
        if line_end == -1 or line_end >= offset or m.group("name") in KEYWORDS:
            continue  # the line being typed, or not a binding
        out.setdefault(m.group("name"), m.group("kind") or "tensor")
    return list(out.items())
