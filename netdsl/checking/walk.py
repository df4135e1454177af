"""The shape walk: every step of the network (layers, repetition, branches, block uses and
wrappers) bound and given a shape, from the input to the output, one node per layer. Each
layer is bound once per set of block arguments and its shape rule asked once per input shape,
so a repeated step costs a dictionary look-up and a node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import NetdslArgumentError, NetdslLimitError, NetdslNameError, NetdslShapeError, Note
from ..lang import ir
from ..vocab.components import DataInfo, Layer
from ..vocab.registry import Registry, suggest
from .bind import Binder, Placeholder, substitute
from .blocks import Blocks, block_component
from .collector import Collector
from .context import (
    MAX_BLOCK_DEPTH,
    MAX_LAYERS,
    MAX_NESTING,
    NO_ARGS,
    UNKNOWN,
    BoundStep,
    Ctx,
    Out,
    name_clash,
    note,
)
from .graph import Node
from .graph_pass import apply_shared
from .inputs import adapt, adapters, reads_ids
from .limits import TOO_MANY_LAYERS, too_many_layers
from .names import body_values, known_words, missing_arrow_after, unknown_layer, unknown_words
from .nodes import Nodes, step_text
from .wrappers import wrap_chain, wrap_layer

__all__ = ["Walk"]

#: the mistake "brackets and block uses nest too deeply", reported once per check
_TOO_DEEP = "too deeply nested"


class Walk:
    """One walk over a program's network; ``nodes.made`` holds the graph it built."""

    __slots__ = (
        "_adapters",
        "_bound",
        "_merges",
        "_words",
        "blocks",
        "collector",
        "graph",
        "info",
        "nodes",
        "program",
        "registry",
        "walked",
    )

    def __init__(
        self,
        program: ir.Program,
        registry: Registry,
        collector: Collector,
        blocks: Blocks,
        info: DataInfo | None,
    ) -> None:
        self.program = program
        self.registry = registry
        self.collector = collector
        self.blocks = blocks
        self.info = info  # what the dataset said (its vocabulary, for `reads_ids`)
        self.nodes = Nodes(registry, collector)
        self.walked: set[str] = set()  # blocks whose body the walk entered
        self._bound: dict[tuple[int, int], BoundStep] = {}  # (layer, block arguments) -> bound once
        self._words: frozenset[str] | None = None
        self._adapters: dict[str, list[tuple[Layer, Any]]] = {}  # input kind -> its adapters
        self._merges: list[Layer] | None = None
        self.graph: Any = None  # a graph's names (graph_pass.GraphScope); None for a chain

    def binder(self, ctx: Ctx) -> Binder:
        return self.collector.binder(self.registry, ctx.notes)

    def chain(self, chain: ir.Chain, inp: Out, ctx: Ctx) -> Out:
        """Each step of ``chain`` on the output of the one before (``ctx.nesting`` chains
        enclose this one)."""
        if ctx.nesting >= MAX_NESTING:
            if self.collector.first(_TOO_DEEP):
                self.collector.error(
                    NetdslLimitError(
                        f"brackets and block uses nest more than {MAX_NESTING} levels deep",
                        chain.span,
                        label="too deeply nested",
                        code="NDL012",
                        help="use blocks and brackets less deeply",
                    ),
                    ctx.notes,
                )
            return inp[0], UNKNOWN
        steps = chain.steps
        if self.graph is not None and not ctx.blocks:  # a chain may start from a named tensor
            start = self.graph.start_of(chain, self.collector, ctx)
            if start is not None:
                inp, steps = start, steps[1:]
        for step in steps:
            if self._too_big(step.span, "one layer too many", ctx):
                return inp[0], UNKNOWN
            inp = _STEPS[type(step)](self, step, inp, ctx)
        return inp

    def unused_blocks(self) -> None:
        """Check every block body the walk did not enter (unused, or not expanded), once, with
        its parameters unknown: names and arguments that do not depend on them."""
        count = len(self.nodes.made)
        for name, block in self.blocks.defs.items():
            if name in self.walked or name in self.blocks.shipped:
                continue
            self.walked.add(name)
            subst: dict[str, Any] = {p: Placeholder(p) for p in block.params}
            self.chain(block.body, ((), UNKNOWN), Ctx(subst, (), (name,), 0, 0, shallow=True))
        del self.nodes.made[count:]

    def _too_big(self, span: Any, label: str, ctx: Ctx) -> bool:
        """Whether the network has grown past MAX_LAYERS (reported once, where it happened)."""
        if len(self.nodes.made) <= MAX_LAYERS:
            return False
        if self.collector.first(TOO_MANY_LAYERS):
            self.collector.error(too_many_layers(span, label), ctx.notes)
        return True

    def _repeat(self, rep: ir.Repeat, inp: Out, ctx: Ctx) -> Out:
        if rep.times < 1:
            self.collector.error(
                NetdslArgumentError(
                    f"a group repeats at least once, not {rep.times} times",
                    rep.times_span,
                    label="expected an integer >= 1",
                    code="NDL005",
                ),
                ctx.notes,
            )
            return inp[0], UNKNOWN
        inner = Ctx(ctx.subst, ctx.notes, ctx.blocks, ctx.depth, ctx.nesting + 1, ctx.shallow)
        errors = self.collector.errors
        for _ in range(1 if ctx.shallow else rep.times):
            if self._too_big(rep.times_span or rep.span, "repeats too often", ctx):
                return inp[0], UNKNOWN
            before = len(errors)
            inp = self.chain(rep.chain, inp, inner)
            if len(errors) > before or inp[1] is UNKNOWN:
                break  # the same mistake in every copy is reported once; unknown stays unknown
        return inp

    def _branches(self, br: ir.Branches, inp: Out, ctx: Ctx) -> Out:
        inner = Ctx(ctx.subst, ctx.notes, ctx.blocks, ctx.depth + 1, ctx.nesting + 1, ctx.shallow)
        outs = [self.chain(c, inp, inner) for c in br.chains]
        merges = self._merge_layers()
        merge_name = br.merge or next((m.name for m in merges if m.default_merge), None)
        merge = self.registry.get("layer", merge_name) if merge_name else None
        if not isinstance(merge, Layer) or not merge.merge:
            names = [m.name for m in merges]
            close = suggest(merge_name, names) if merge_name else None
            self.collector.error(
                NetdslNameError(
                    f"`{merge_name}` cannot merge branches"
                    if merge_name
                    else "these branches need a merge layer after `]`",
                    br.merge_span or br.span,
                    label="not a merge layer" if merge_name else "no merge",
                    code="NDL003",
                    expected=", ".join(f"`{c}`" for c in names) or "a merge layer",
                    help=f"did you mean `{close}`?" if close else None,
                ),
                ctx.notes,
            )
            return (), UNKNOWN
        shapes = [o[1] for o in outs]
        inputs = tuple(o[0][0] if o[0] else -1 for o in outs)
        given = tuple(substitute(a, ctx.subst) for a in br.merge_args)
        bound = self.binder(ctx).bind(merge, given, br.merge_span)
        if bound is None:
            return (), UNKNOWN
        args = bound
        if any(s is UNKNOWN for s in shapes):
            return (), UNKNOWN
        if self.graph is not None and len(set(shapes)) > 1:
            # tensors of different shapes merged: an error then points at each branch
            ctx = ctx._replace(notes=(*_producers(br, outs), *ctx.notes))
        return self.nodes.infer(
            merge,
            args,
            inputs,
            shapes,
            br.merge_span or br.span,
            f"{merge.name} ({len(outs)} branches)",
            ctx,
            merge_args=True,
        )

    def _layer(self, layer: ir.Layer, inp: Out, ctx: Ctx) -> Out:
        if self.graph is not None:
            if layer.name in self.graph.shared:
                return apply_shared(self, layer, inp, ctx)
            misplaced: Out | None = self.graph.misplaced(layer, self.collector, ctx)
            if misplaced is not None:
                return misplaced
        hit = self._bound.get((id(layer), id(ctx.subst)))
        if hit is not None and hit.layer is layer and hit.subst is ctx.subst:
            return self._apply(hit, inp, ctx)  # a repeated step: bound once, inferred per input
        if layer.name in self.blocks.defs:
            return self._use_block(layer, inp, ctx)
        if layer.name in self.blocks.broken:
            return inp[0], UNKNOWN  # its definition is already reported
        component = self.registry.get("layer", layer.name)
        if not isinstance(component, Layer):
            unknown_layer(self, layer, ctx)
            unknown_words(self, self._known_words(), layer, ctx)
            return inp[0], UNKNOWN
        args = tuple(substitute(a, ctx.subst) for a in layer.args) if ctx.subst else layer.args
        if missing_arrow_after(self, component, layer, args, ctx):
            return inp[0], UNKNOWN
        if component.merge and not component.alone:
            self.collector.error(
                NetdslShapeError(
                    f"`{layer.name}` merges branches and cannot stand alone",
                    layer.name_span,
                    label="needs branches",
                    code="NDL008",
                    help=f"write branches and merge them: `[a | b] {layer.name}`",
                ),
                ctx.notes,
            )
            return inp[0], UNKNOWN
        if component.wrapper == "chain":
            return wrap_chain(self, component, layer, args, inp, ctx)
        if component.wrapper == "layer":
            return wrap_layer(self, component, layer, args, inp, ctx)
        args = (*args, *body_values(self, layer, ctx))
        before = len(self.collector.errors)
        bound = self.binder(ctx).bind(component, args, layer.name_span, partial=True)
        if bound is None:
            return inp[0], UNKNOWN
        step = BoundStep(layer, ctx.subst, component, bound)
        if len(self.collector.errors) == before:
            self._bound[(id(layer), id(ctx.subst))] = step
        return self._apply(step, inp, ctx)

    def _apply(self, step: BoundStep, inp: Out, ctx: Ctx) -> Out:
        """A bound layer on its input: adapter if needed, then its shape rule (memoised per input
        shape)."""
        if inp[1] is UNKNOWN:
            return inp[0], UNKNOWN
        inp = adapt(self, step.component, inp, step.layer, ctx)
        if inp[1] is UNKNOWN:
            return inp
        if step.component.reads_ids is not None and not reads_ids(self, step, inp[0], ctx):
            return inp[0], UNKNOWN
        if step.text is None:
            step.text = step_text(step.layer, ctx)
        known = step.shapes.get(inp[1])
        if known is not None:
            return self.nodes.add(
                step.component,
                step.bound,
                inp[0],
                inp[1],
                known[0],
                known[1],
                step.layer.span,
                step.text,
                ctx,
                items=step.items,
            )
        out = self.nodes.infer(
            step.component, step.bound, inp[0], inp[1], step.layer.span, step.text, ctx
        )
        if out[1] is not UNKNOWN:
            node: Node = self.nodes.made[-1]
            step.shapes[inp[1]] = (node.output_shape, node.params)
        return out

    def _use_block(self, layer: ir.Layer, inp: Out, ctx: Ctx) -> Out:
        block = self.blocks.defs[layer.name]
        if layer.name in ctx.blocks:
            self.collector.error(
                name_clash(
                    f"block `{layer.name}` uses itself",
                    layer.name_span,
                    "recursive use",
                    block.name_span,
                    "defined here",
                ),
                ctx.notes,
            )
            return inp[0], UNKNOWN
        if len(ctx.blocks) >= MAX_BLOCK_DEPTH:
            self.collector.error(
                NetdslLimitError(
                    f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels",
                    layer.name_span,
                    label="too deeply nested",
                    code="NDL012",
                    notes=note(block.name_span, "defined here"),
                ),
                ctx.notes,
            )
            return inp[0], UNKNOWN
        subst: dict[str, Any] | None = {}
        if block.params or layer.args or layer.body:  # a use without arguments has nothing to bind
            args = [substitute(a, ctx.subst) for a in (*layer.args, *body_values(self, layer, ctx))]
            defined = note(block.name_span, "defined here")
            binder = self.collector.binder(self.registry, (*defined, *ctx.notes))
            subst = binder.bind(block_component(block), args, layer.span, by_position=True)
            if subst is None:
                return inp[0], UNKNOWN
        if ctx.shallow:
            return inp[0], UNKNOWN  # its body is checked once on its own (unused_blocks)
        self.walked.add(block.name)
        use = (Note(layer.span, f"in this use of `{block.name}`"),) if layer.span else ()
        values = dict(subst) if subst else NO_ARGS  # one mapping for every use without arguments,
        # so a block used many times (blocks using blocks) binds each of its layers once
        inner = Ctx(
            values, (*use, *ctx.notes), (*ctx.blocks, block.name), ctx.depth, ctx.nesting + 1
        )
        return self.chain(block.body, inp, inner)

    def _merge_layers(self) -> list[Layer]:
        """The registry's merge layers, looked up once per walk (a graph merges thousands)."""
        if self._merges is None:
            self._merges = [
                e.component
                for e in self.registry.entries("layer")
                if isinstance(e.component, Layer) and e.component.merge
            ]
        return self._merges

    def adapters(self, want: str) -> list[tuple[Layer, Any]]:
        """The adapter layers to ``want`` (looked up in the registry once per walk)."""
        found = self._adapters.get(want)
        if found is None:
            found = self._adapters[want] = adapters(self.registry, want)
        return found

    def _known_words(self) -> frozenset[str]:
        if self._words is None:
            self._words = known_words(self.registry, self.binder(Ctx()))
        return self._words


def _producers(br: ir.Branches, outs: list[Out]) -> tuple[Note, ...]:
    """A note per merged branch: where it is written and the shape it gives."""
    from .graph import format_shape

    return tuple(
        Note(c.span, f"this branch gives {format_shape(o[1])}")
        for c, o in zip(br.chains, outs)
        if c.span is not None
    )


#: the walk of each kind of step. Plain functions on the class, not bound methods kept on the
#: walk: a bound method stored in its own instance is a reference cycle, which left every
#: check's whole graph (nodes, bound steps, ~6,700 objects) to the cyclic garbage collector
_STEPS: dict[type, Callable[[Walk, Any, Out, Ctx], Out]] = {
    ir.Layer: Walk._layer,
    ir.Repeat: Walk._repeat,
    ir.Branches: Walk._branches,
}
