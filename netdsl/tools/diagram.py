"""``netdsl diagram``: the checked graph as a picture, without TensorFlow.

Every layer is a box with what the program wrote for it (its key arguments), its output shape
and its parameter count; branches, merges and residual blocks are drawn as the graph they are;
layers the checker inserted on its own (implicit adapters) are dashed. A graph draws its DAG:
one box per named input and per output, a named tensor's name on the box that computes it, and
a shared chain's later uses in their own colour, tied to its first use by a dotted "same
weights" line (one set of weights, drawn where each use is). DOT and Mermaid are plain
text; SVG and PNG are rendered by Graphviz's ``dot`` through the ``graphviz`` package
(``pip install 'netdsl[diagram]'`` and Graphviz itself).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..checking.graph import Node, format_shape
from ..checking.plan import CheckedModel
from ..errors import DiagramError

__all__ = ["FORMATS", "DiagramError", "format_for", "input_id", "render", "to_dot", "to_mermaid"]


#: a PNG's resolution: Graphviz's 96 makes 9-point shape lines hard to read
PNG_DPI = 144


@dataclass(frozen=True)
class _Box:
    """One box of the picture."""

    id: str
    title: str
    detail: str
    kind: str  # "input", "layer", "merge", "implicit", "shared", "output"


#: an arrow: (from, to, style) with style "" (data), "skip" (a residual block's input carried
#: around its body) or "shares" (a shared layer's use, tied to its first use: no data flows)
_Edge = tuple[str, str, str]


#: box kind -> (Graphviz node attributes, Mermaid class style)
_STYLES: Mapping[str, tuple[str, str]] = {
    "input": (
        'style="rounded,filled", fillcolor="#e3f1e4", color="#3f7f46"',
        "fill:#e3f1e4,stroke:#3f7f46",
    ),
    "layer": (
        'style="rounded,filled", fillcolor="#eaf0fa", color="#4a6fa5"',
        "fill:#eaf0fa,stroke:#4a6fa5",
    ),
    "merge": (
        'style="rounded,filled", fillcolor="#fdf0dc", color="#b7791f"',
        "fill:#fdf0dc,stroke:#b7791f",
    ),
    "implicit": (
        'style="rounded,dashed,filled", fillcolor="#ffffff", color="#888888", fontcolor="#555555"',
        "fill:#ffffff,stroke:#888888,stroke-dasharray:5 5,color:#555555",
    ),
    "shared": (
        'style="rounded,filled", fillcolor="#f1e8fa", color="#7a4fa5"',
        "fill:#f1e8fa,stroke:#7a4fa5",
    ),
    "output": (
        'style="rounded,filled,bold", fillcolor="#fbe4e4", color="#a54a4a"',
        "fill:#fbe4e4,stroke:#a54a4a,stroke-width:2px",
    ),
}

#: edge style -> (Graphviz edge attributes, Mermaid arrow)
_EDGES: Mapping[str, tuple[str, str]] = {
    "": ("", "-->"),
    "skip": (
        ' [style=dashed, color="#b7791f", label=" skip", fontname="Helvetica", fontsize=9, '
        'fontcolor="#b7791f"]',
        "-. skip .->",
    ),
    "shares": (
        ' [style=dotted, color="#7a4fa5", arrowhead=none, constraint=false, '
        'label=" same weights", fontname="Helvetica", fontsize=9, fontcolor="#7a4fa5"]',
        "-. same weights .-",
    ),
}


def _kind(node: Node) -> str:
    component = node.component
    if node.implicit:
        return "implicit"
    if node.shares is not None:
        return "shared"
    if component is not None and (component.merge or component.wrapper == "chain"):
        return "merge"
    return "layer"


def _boxes(model: CheckedModel) -> tuple[list[_Box], list[_Edge]]:
    """The boxes (the input, then every layer) and the arrows between them; an arrow is
    ``skip`` when it carries a residual block's input around its body."""
    if model.is_graph:
        return _graph_boxes(model)
    boxes = [
        _Box("input", f"input ({model.dataset.name})", format_shape(model.input_shape), "input")
    ]
    edges: list[_Edge] = []
    for n in model.nodes:
        boxes.append(_Box(f"n{n.index}", n.text, _detail(n), _kind(n)))
        chain = n.component is not None and n.component.wrapper == "chain"
        for k, i in enumerate(n.inputs or (-1,)):
            edges.append(("input" if i < 0 else f"n{i}", f"n{n.index}", _skip(chain and k == 0)))
    return boxes, edges


def _detail(n: Node, shared: str | None = None) -> str:
    """A box's second line: the shape and parameters (a shared layer's use says whose)."""
    if n.shares is not None:
        return f"{format_shape(n.output_shape)} · {shared or 'shared'} again: same weights"
    params = f"{format_shape(n.output_shape)} · {n.params:,} param{'s' * (n.params != 1)}"
    return f"{params} · {shared}" if shared else params


def _shared_names(model: CheckedModel) -> dict[int, str]:
    """Each node of a shared chain's uses (first and later), to ``shared NAME``: the node's
    span lies in the chain's definition."""
    chains = [
        (b.name, b.chain.span)
        for b in model.program.bindings
        if b.kind == "shared" and b.chain.span is not None
    ]
    firsts = {n.shares for n in model.nodes if n.shares is not None}
    out = {}
    for n in model.nodes:
        if n.span is None or (n.shares is None and n.index not in firsts):
            continue
        for name, span in chains:
            if span is not None and span.start <= n.span.start and n.span.end <= span.end:
                out[n.index] = f"shared {name}"
    return out


def _skip(skip: bool) -> str:
    return "skip" if skip else ""


def input_id(node: int) -> str:
    """The box of a model input: ``input`` (the sole or first input), ``input1``, ... (a
    graph's input ``i`` is node ``-1 - i``)."""
    return "input" if node == -1 else f"input{-1 - node}"


def _graph_boxes(model: CheckedModel) -> tuple[list[_Box], list[_Edge]]:
    """A graph: a box per named input (:func:`input_id`), per layer (a named tensor's name
    before the layer that computes it) and per output (``o<k>``); a shared layer's later use
    is tied to its first use by a ``shares`` line."""
    inputs = {i.node: input_id(i.node) for i in model.inputs}
    boxes = [
        _Box(inputs[i.node], f"input {i.name}", format_shape(i.shape), "input")
        for i in model.inputs
    ]
    outputs = {o.name for o in model.outputs}
    names = {node: name for name, node in model.tensors if name not in outputs}
    shared = _shared_names(model)
    edges: list[_Edge] = []
    for n in model.nodes:
        title = f"{names[n.index]} = {n.text}" if n.index in names else n.text
        kind = "shared" if n.index in shared else _kind(n)
        boxes.append(_Box(f"n{n.index}", title, _detail(n, shared.get(n.index)), kind))
        chain = n.component is not None and n.component.wrapper == "chain"
        first = inputs.get(-1, "input")
        for k, i in enumerate(n.inputs or (-1,)):
            source = inputs.get(i, first) if i < 0 else f"n{i}"
            edges.append((source, f"n{n.index}", _skip(chain and k == 0)))
        if n.shares is not None:
            edges.append((f"n{n.shares}", f"n{n.index}", "shares"))
    for k, o in enumerate(model.outputs):
        boxes.append(_Box(f"o{k}", f"output {o.name}", format_shape(o.shape), "output"))
        edges.append((f"n{o.node}", f"o{k}", ""))
    return boxes, edges


def _name(model: CheckedModel) -> str:
    name = model.program.filename
    return os.path.basename(name) if name and name != "<stdin>" else "model"


def to_dot(model: CheckedModel, dpi: int | None = None) -> str:
    """Graphviz DOT text, top to bottom (``dpi`` sizes a PNG)."""
    boxes, edges = _boxes(model)
    caption = f"{_name(model)} · {model.total_params:,} parameters"
    lines = [
        f"digraph {_dot_id(_name(model))} {{",
        '  graph [rankdir=TB, ordering=out, fontname="Helvetica", fontsize=12, nodesep=0.25, ranksep=0.3, '
        f"labelloc=b, label={_dot_id(caption)}{f', dpi={dpi}' if dpi else ''}];",
        '  node [shape=box, fontname="Helvetica", fontsize=11, margin="0.12,0.05", penwidth=1.2];',
        '  edge [color="#666666", arrowsize=0.6];',
    ]
    for b in boxes:
        label = (
            f"<<b>{html.escape(b.title)}</b><br/>"
            f'<font point-size="9" color="#444444">{html.escape(b.detail)}</font>>'
        )
        lines.append(f"  {b.id} [label={label}, {_STYLES[b.kind][0]}];")
    lines += [f"  {a} -> {b}{_EDGES[style][0]};" for a, b, style in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_mermaid(model: CheckedModel) -> str:
    """A Mermaid flowchart (renders on GitHub and in many Markdown viewers)."""
    boxes, edges = _boxes(model)
    lines = ["flowchart TD"]
    for b in boxes:
        lines.append(
            f'  {b.id}["{_mermaid_text(b.title)}<br/><small>{_mermaid_text(b.detail)}</small>"]'
        )
    lines += [f"  {a} {_EDGES[style][1]} {b}" for a, b, style in edges]
    for kind, (_, style) in _STYLES.items():
        members = [b.id for b in boxes if b.kind == kind]
        if members:
            lines.append(f"  classDef {kind} {style}")
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return html.escape(text).replace('"', "#quot;")


def _graphviz(model: CheckedModel, fmt: str) -> bytes:
    """SVG or PNG drawn by Graphviz's ``dot`` (through the ``graphviz`` package)."""
    try:
        import graphviz
    except ImportError:
        raise DiagramError(
            f"drawing .{fmt} needs the graphviz package, which is not installed",
            help="pip install 'netdsl[diagram]' (and Graphviz's `dot`); .dot and .mmd need nothing",
        ) from None
    try:
        return bytes(
            graphviz.Source(to_dot(model, PNG_DPI if fmt == "png" else None)).pipe(format=fmt)
        )
    except graphviz.ExecutableNotFound:
        raise DiagramError(
            f"drawing .{fmt} needs Graphviz's `dot` program, which is not on PATH",
            help="install Graphviz (apt-get install graphviz, brew install graphviz, "
            "or https://graphviz.org/download/); .dot and .mmd need nothing",
        ) from None


#: format -> what makes it (text formats return str, pictures bytes)
FORMATS: Mapping[str, Callable[[CheckedModel], str | bytes]] = {
    "svg": lambda m: _graphviz(m, "svg"),
    "png": lambda m: _graphviz(m, "png"),
    "dot": to_dot,
    "mmd": to_mermaid,
}


def format_for(path: str | None, fmt: str | None) -> str:
    """The format asked for: ``--format``, else the output file's extension, else DOT."""
    if fmt is None and path is not None:
        fmt = os.path.splitext(path)[1].lstrip(".").lower() or None
        fmt = {"gv": "dot", "mermaid": "mmd"}.get(fmt or "", fmt)
    fmt = fmt or "dot"
    if fmt not in FORMATS:
        raise DiagramError(
            f"cannot draw a .{fmt} file",
            help=f"choose one of {', '.join('.' + f for f in FORMATS)} (or --format)",
        )
    return fmt


def render(model: CheckedModel, fmt: str) -> str | bytes:
    """The diagram of ``model`` in ``fmt`` (one of :data:`FORMATS`)."""
    return FORMATS[fmt](model)
