"""The graph pass: a program with named tensors, outputs and shared chains (``e1 = ...``,
``output digit = ...``, ``shared tower = ...``) walked as a DAG.

Names are resolved after parsing, in source order: a chain whose first step names an input
or an earlier tensor starts there, any other chain starts from the sole input. Each chain is
walked by the shape walk (:mod:`.walk`), which asks this scope about tensor names and shared
chains. Cost is linear in the steps: every chain is walked once, every name looked up in a
dict. Inputs are node references ``-1 - i`` (input ``i`` of the dataset's named inputs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import NetdslError, NetdslNameError, NetdslShapeError, NetdslWarning, Note, Span
from ..lang import ir
from ..vocab.components import DataInfo, InputInfo
from ..vocab.registry import Registry, suggest
from .blocks import Blocks
from .collector import Collector
from .column_inputs import column_inputs
from .context import MAX_LAYERS, UNKNOWN, Ctx, Out, name_clash, note
from .graph import format_shape
from .limits import Expansion

__all__ = ["GraphScope", "NamedOut", "is_reference", "walk_graph"]


def is_reference(step: ir.Step) -> bool:
    """Whether a step could name a tensor: a bare name (no arguments, no brackets)."""
    return isinstance(step, ir.Layer) and not step.args and not step.body and not step.call


@dataclass
class NamedOut:
    """An output the graph computes: its name (None for the unnamed last chain until it is
    matched with the data's sole target), what the walk gave, and where it is written."""

    name: str | None
    out: Out
    span: Span | None
    name_span: Span | None


@dataclass
class GraphScope:
    """The names of one graph: the data's inputs, the tensors defined so far, every tensor or
    output binding (for "used before its definition"), the shared chains, and what was read."""

    inputs: dict[str, Out]
    order: tuple[InputInfo, ...]
    #: whether a name is a layer, block or shared chain (a chain may start with one)
    is_step: Any = None
    layer_names: list[str] = field(default_factory=list)
    defs: dict[str, ir.Binding] = field(default_factory=dict)
    shared: dict[str, ir.Binding] = field(default_factory=dict)
    tensors: dict[str, Out] = field(default_factory=dict)
    reads: Counter[str] = field(default_factory=Counter)
    #: the data could not say its inputs (its error is reported): an unknown name is no error
    inputs_unknown: bool = False
    #: shared name -> (input shape, node indices, span) of its first use
    first_use: dict[str, tuple[Any, list[int], Span | None]] = field(default_factory=dict)

    def known(self, name: str) -> bool:
        return name in self.tensors or name in self.inputs or name in self.defs

    def start_of(self, chain: ir.Chain, collector: Collector, ctx: Ctx) -> Out | None:
        """Where ``chain`` starts when its first step names a tensor or an input (None: it
        starts from what flows in)."""
        step = chain.steps[0]
        if not is_reference(step):
            return None
        assert isinstance(step, ir.Layer)
        name = step.name
        found = self.tensors.get(name) or self.inputs.get(name)
        if found is not None:
            self.reads[name] += 1
            return found
        binding = self.defs.get(name)
        if binding is None:
            return self._unknown(step, collector, ctx)
        self.reads[name] += 1
        collector.error(
            name_clash(
                f"`{name}` is used before its definition",
                step.name_span,
                "not defined yet",
                binding.name_span,
                "defined here",
                help="define a tensor above the lines that use it (a graph has no cycles)",
            ),
            ctx.notes,
        )
        return (), UNKNOWN

    def _unknown(self, step: ir.Layer, collector: Collector, ctx: Ctx) -> Out | None:
        """A bare first step that is no layer, block or shared chain: an unknown tensor or
        input (did-you-mean over those, then over the layers); a layer is left to the walk."""
        if self.is_step is None or self.is_step(step.name):
            return None
        if self.inputs_unknown:  # maybe an input of data that failed to describe itself
            return (), UNKNOWN
        names = [*self.inputs, *self.defs]
        close = suggest(step.name, names) or suggest(step.name, self.layer_names)
        collector.error(
            NetdslNameError(
                f"unknown name `{step.name}`: not a tensor, an input or a layer",
                step.name_span,
                label="unknown name",
                code="NDL003",
                expected=", ".join(f"`{n}`" for n in names),
                help=f"did you mean `{close}`?" if close else "the inputs are named by the data",
            ),
            ctx.notes,
        )
        return (), UNKNOWN

    def misplaced(self, layer: ir.Layer, collector: Collector, ctx: Ctx) -> Out | None:
        """A tensor or input name in the middle of a chain: an error (they start chains)."""
        if not is_reference(layer) or not self.known(layer.name):
            return None
        collector.error(
            NetdslNameError(
                f"`{layer.name}` names a tensor, which can only start a chain",
                layer.name_span,
                label="a tensor, not a layer",
                code="NDL003",
                help=f"start a chain or a merge branch with it: `{layer.name} -> ...`, "
                f"`[{layer.name} | ...] concat`",
            ),
            ctx.notes,
        )
        return (), UNKNOWN


def _needs_input(chain: ir.Chain, scope: GraphScope) -> bool:
    """Whether ``chain`` reads what flows into it (it does not start from a named tensor)."""
    first = chain.steps[0]
    if is_reference(first) and (  # a tensor, or an unknown name meant as one
        scope.known(first.name) or not scope.is_step(first.name)  # type: ignore[union-attr]
    ):
        return False
    if isinstance(first, ir.Branches):
        return any(_needs_input(c, scope) for c in first.chains)
    return True


def _inputs(info: DataInfo | None, input_shape: Any, program: ir.Program) -> tuple[InputInfo, ...]:
    if info is None:
        return (InputInfo("x", tuple(input_shape) if input_shape else ()),)
    routed = column_inputs(program, info) if info.columns else None
    if routed is not None:  # a typed table's columns named by the program
        return routed
    named = info.named_inputs
    if len(named) == 1 and input_shape:  # `input:` reshapes the sole input, as in a chain
        return (InputInfo(named[0].name, tuple(input_shape), named[0].dtype, named[0].kind),)
    return named


def walk_graph(
    walk: Any,
    program: ir.Program,
    registry: Registry,
    blocks: Blocks,
    info: DataInfo | None,
    input_shape: Any,
) -> tuple[GraphScope, list[NamedOut]]:
    """Walk every binding and the unnamed chain in source order; the scope and the outputs."""
    collector: Collector = walk.collector
    order = _inputs(info, input_shape, program)
    scope = GraphScope(
        {i.name: ((-1 - k,), i.shape or UNKNOWN) for k, i in enumerate(order)}, order
    )
    walk.graph = scope
    scope.inputs_unknown = info is None and program.setting("dataset") is not None
    _declare(program, registry, blocks, scope, collector)
    scope.layer_names = list(registry.names("layer"))
    scope.is_step = lambda name: (
        name in scope.shared or name in blocks.defs or registry.get("layer", name) is not None
    )
    shallow = _too_big(program, blocks, scope, collector)
    outputs: list[NamedOut] = []
    for b in program.bindings:
        if b.kind == "shared":
            continue
        out = _walk_top(walk, b.chain, scope, shallow)
        if scope.defs.get(b.name) is b:
            scope.tensors[b.name] = out
        if b.kind == "output":
            outputs.append(NamedOut(b.name, out, b.span, b.name_span))
    if program.network is not None:
        out = _walk_top(walk, program.network, scope, shallow)
        outputs.append(NamedOut(None, out, program.network.span, None))
    walk.unused_blocks()
    return scope, outputs


def _walk_top(walk: Any, chain: ir.Chain, scope: GraphScope, shallow: bool) -> Out:
    """A top-level chain from its named tensor, or from the sole input."""
    start: Out = ((), UNKNOWN)
    if _needs_input(chain, scope):
        if len(scope.order) == 1:
            name = scope.order[0].name
            scope.reads[name] += 1
            start = scope.inputs[name]
        else:
            names = ", ".join(f"`{i.name}`" for i in scope.order)
            walk.collector.error(
                NetdslNameError(
                    f"this chain does not say where it starts, and the data has several "
                    f"inputs ({names})",
                    chain.steps[0].span,
                    label="starts from no tensor",
                    code="NDL003",
                    expected=names,
                    help=f"start it with an input: `{scope.order[0].name} -> ...`",
                )
            )
    out: Out = walk.chain(chain, start, Ctx(shallow=shallow))
    return out


def _declare(
    program: ir.Program,
    registry: Registry,
    blocks: Blocks,
    scope: GraphScope,
    collector: Collector,
) -> None:
    """Each binding's name: not twice, not a layer's or a block's, not an input's."""
    for b in program.bindings:
        first = scope.defs.get(b.name) or scope.shared.get(b.name)
        clash = _clash(b, registry, blocks, scope)
        if first is not None:
            collector.error(
                name_clash(
                    f"`{b.name}` is defined twice",
                    b.name_span,
                    "second definition",
                    first.name_span,
                    "first defined here",
                    help="give each tensor its own name",
                )
            )
        elif clash is not None:
            collector.error(
                NetdslNameError(
                    f"`{b.name}` is already {clash}",
                    b.name_span,
                    label="name taken",
                    code="NDL011",
                    help=f"name it otherwise, e.g. `{b.name}_out`",
                )
            )
        elif b.kind == "shared":
            scope.shared[b.name] = b
        else:
            scope.defs[b.name] = b


def _clash(b: ir.Binding, registry: Registry, blocks: Blocks, scope: GraphScope) -> str | None:
    if b.name in scope.inputs:
        return "an input of the data (inputs are named by the dataset)"
    if b.name in blocks.defs or b.name in blocks.broken:
        return "a block's name"
    if registry.get("layer", b.name) is not None:
        return "a layer's name"
    return None


def _too_big(program: ir.Program, blocks: Blocks, scope: GraphScope, collector: Collector) -> bool:
    """Whether the whole graph expands past MAX_LAYERS (reported where it does): then it is
    walked without expanding, as a chain program is. Shared chains count once per use."""
    defs = dict(blocks.defs)
    defs.update(
        {n: ir.BlockDef(n, (), b.chain, b.span, b.name_span) for n, b in scope.shared.items()}
    )
    expansion = Expansion(defs)
    chains = [b.chain for b in program.bindings if b.kind != "shared"]
    chains += [program.network] if program.network is not None else []
    total = 0
    for chain in chains:
        size = expansion.chain(chain)
        total += size
        if total > MAX_LAYERS:
            if size > MAX_LAYERS:
                expansion.report(chain, collector)
            else:
                expansion._report(collector, chain.span, "the graph passes the limit here", ())
            return True
    return False


# --- shared chains ---------------------------------------------------------------------------


def apply_shared(walk: Any, layer: ir.Layer, inp: Out, ctx: Ctx) -> Out:
    """A shared chain used as a step: walked on ``inp`` like a block; every later use's nodes
    reuse the first use's layers (``Node.shares``, no parameters of their own)."""
    scope: GraphScope = walk.graph
    binding = scope.shared[layer.name]
    collector: Collector = walk.collector
    defined = note(binding.name_span, "defined here")
    if layer.args or layer.body or layer.call:
        collector.error(
            NetdslNameError(
                f"the shared chain `{layer.name}` takes no arguments",
                layer.span,
                label="arguments given",
                code="NDL003",
                notes=defined,
                help=f"write `{layer.name}` alone; a block takes arguments",
            ),
            ctx.notes,
        )
        return inp[0], UNKNOWN
    if layer.name in ctx.blocks:
        collector.error(
            NetdslNameError(
                f"the shared chain `{layer.name}` uses itself",
                layer.name_span,
                label="recursive use",
                code="NDL011",
                notes=defined,
            ),
            ctx.notes,
        )
        return inp[0], UNKNOWN
    if inp[1] is UNKNOWN or ctx.shallow:
        return inp[0], UNKNOWN
    use = (Note(layer.span, f"in this use of `{layer.name}`"),) if layer.span else ()
    inner = Ctx(
        ctx.subst, (*use, *ctx.notes), (*ctx.blocks, layer.name), ctx.depth, ctx.nesting + 1
    )
    before = len(walk.nodes.made)
    out: Out = walk.chain(binding.chain, inp, inner)
    made = walk.nodes.made[before:]
    first = scope.first_use.get(layer.name)
    if first is None:
        scope.first_use[layer.name] = (inp[1], [n.index for n in made], layer.span)
        return out
    shape, indices, span = first
    if tuple(shape) != tuple(inp[1]) or len(indices) != len(made):
        collector.error(
            NetdslShapeError(
                f"the shared chain `{layer.name}` is applied to tensors of different shapes: "
                f"{format_shape(inp[1])} here, {format_shape(shape)} at its first use",
                layer.name_span,
                label=f"input is {format_shape(inp[1])}",
                code="NDL008",
                notes=[*note(span, f"first used here on {format_shape(shape)}"), *defined],
                help="one set of weights takes one input shape; use a block for a chain "
                "with its own weights per use",
            ),
            ctx.notes,
        )
        return inp[0], UNKNOWN
    for node, index in zip(made, indices):
        node.__dict__.update(shares=index, params=0)
    return out


# --- outputs and the data's targets ----------------------------------------------------------


def match_outputs(
    outputs: list[NamedOut],
    info: DataInfo,
    program: ir.Program,
    collector: Collector,
) -> list[NamedOut]:
    """Each output named like one of the data's targets (the unnamed last chain takes the
    sole target's name), and every target given an output; errors at the names."""
    targets = [t.name for t in info.named_targets]
    named = [o for o in outputs if o.name is not None]
    unnamed = next((o for o in outputs if o.name is None), None)
    if unnamed is not None:
        if named:
            collector.error(
                name_clash(
                    "this unnamed chain is one more output, but the others are named",
                    program.network.steps[0].span if program.network else None,
                    "an unnamed output",
                    named[0].name_span,
                    "a named output",
                    help="name it like a target of the data: `output NAME = ...`, "
                    "or name it as a tensor",
                )
            )
            return []
        if len(targets) != 1:
            collector.error(
                NetdslShapeError(
                    f"the data has {len(targets)} targets ({_listed(targets)}), and the "
                    "program one unnamed output",
                    program.network.steps[0].span if program.network else None,
                    label="which target?",
                    code="NDL013",
                    help=f"name each output like its target: `output {targets[0]} = ...`",
                )
            )
            return []
        unnamed.name = targets[0]
        named = [unnamed]
    ok = True
    for o in named:
        if o.name not in targets:
            ok = False
            close = suggest(o.name or "", targets)
            collector.error(
                NetdslShapeError(
                    f"the data has no target `{o.name}` for this output",
                    o.name_span,
                    label="no such target",
                    code="NDL013",
                    expected=_listed(targets),
                    help=f"did you mean `{close}`?" if close else "name outputs like targets",
                )
            )
    made = {o.name for o in named}
    missing = [t for t in targets if t not in made]
    if missing and ok:
        setting = program.setting("dataset")
        collector.error(
            NetdslShapeError(
                f"the data's target{'s' if len(missing) > 1 else ''} {_listed(missing)} "
                f"{'have' if len(missing) > 1 else 'has'} no output",
                setting.value.span if setting else (named[-1].name_span if named else None),
                label="no output for it",
                code="NDL013",
                help=f"add `output {missing[0]} = ...`",
            )
        )
        ok = False
    for o in named:
        if ok and (not o.out[0] or o.out[0][0] < 0) and o.out[1] is not UNKNOWN:
            collector.error(
                NetdslShapeError(
                    f"the output `{o.name}` is an input: an output is computed by a layer",
                    o.name_span or o.span,
                    label="no layer",
                    code="NDL013",
                    help=f"add the layers that compute it: `output {o.name} = x -> dense 1`",
                )
            )
            ok = False
    return named if ok else []


def _listed(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def check_output_keys(values: Mapping[str, Any], outputs: Sequence[str]) -> Iterator[NetdslError]:
    """Every key of a per-output setting (``loss: {digit: ...}``) names an output."""
    from ..errors import NetdslSettingError

    for key in ("loss", "metrics", "loss_weights"):
        value = values.get(key)
        if not isinstance(value, dict):
            continue
        for name in value:
            if name in outputs:
                continue
            close = suggest(name, list(outputs))
            yield NetdslSettingError(
                f"`{key}` is set for `{name}`, which is not an output",
                getattr(value, "spans", {}).get(name),
                label="no such output",
                code="NDL004",
                expected=_listed(outputs),
                help=f"did you mean `{close}`?" if close else None,
            )


def warnings(program: ir.Program, scope: GraphScope) -> list[NetdslWarning]:
    """A named tensor never used; an input never read; a shared chain never used."""
    out: list[NetdslWarning] = []
    for b in program.bindings:
        if b.kind == "tensor" and scope.defs.get(b.name) is b and not scope.reads[b.name]:
            out.append(
                NetdslWarning(
                    f"the tensor `{b.name}` is never used",
                    b.name_span,
                    label="unused",
                    help=f"use it (`{b.name} -> ...`), make it an output, or remove it",
                )
            )
        if b.kind == "shared" and scope.shared.get(b.name) is b and b.name not in scope.first_use:
            out.append(
                NetdslWarning(
                    f"the shared chain `{b.name}` is never used",
                    b.name_span,
                    label="unused",
                    help=f"use it as a step (`a -> {b.name}`), or remove it",
                )
            )
    setting = program.setting("dataset")
    for i in scope.order:
        if not scope.reads[i.name]:
            out.append(
                NetdslWarning(
                    f"the data's input `{i.name}` is never read",
                    setting.value.span if setting else None,
                    label="unread input",
                    help=f"start a chain with it: `{i.name} -> ...`",
                )
            )
    return out


def output_path(nodes: Sequence[Any], index: int) -> list[Any]:
    """The nodes from an input to node ``index`` along each node's first input: what the
    training target reads of an output (its final activation, its layer)."""
    path = []
    while index >= 0:
        node = nodes[index]
        path.append(node)
        index = node.inputs[0] if node.inputs else -1
    return path[::-1]
