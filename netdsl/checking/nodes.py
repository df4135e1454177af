"""The graph the shape walk builds: one node per layer, each made by its declaration's shape
rule (whose failures name the plugin), and what the walk's other passes see of the walk."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol

from ..errors import NetdslLimitError, NetdslPluginError, NetdslShapeError, Span
from ..lang import ir
from ..lang.formatter import format_step
from ..vocab.components import DataInfo, Layer, ShapeProblem
from ..vocab.registry import Registry
from .bind import Binder, substitute
from .blocks import Blocks
from .collector import Collector
from .context import MAX_PARAMS, MAX_VALUES, UNKNOWN, Ctx, Out, is_shape, short, size
from .graph import Node, Shape, format_shape

__all__ = ["Nodes", "Walker"]


class Nodes:
    """The nodes made so far, in order; ``add`` and ``infer`` append one."""

    __slots__ = ("registry", "collector", "made", "_providers")

    def __init__(self, registry: Registry, collector: Collector) -> None:
        self.registry = registry
        self.collector = collector
        self.made: list[Node] = []
        self._providers: dict[str, str] = {}  # layer name -> the plugin that declares it

    def add(
        self,
        component: Layer,
        bound: Mapping[str, Any],
        inputs: tuple[int, ...],
        in_shape: Any,
        out: Shape,
        params: int,
        span: Span | None,
        text: str,
        ctx: Ctx,
        *,
        implicit: bool = False,
        inner: Node | None = None,
        items: tuple[tuple[str, Any], ...] | None = None,
    ) -> Out:
        provider = self._providers.get(component.name)
        if provider is None:
            entry = self.registry.entry("layer", component.name)
            provider = self._providers[component.name] = str(entry.provider) if entry else ""
        nodes = self.made
        node = Node.make(
            len(nodes),
            component.name,
            items if items is not None else tuple(bound.items()),
            tuple(inputs),
            in_shape,
            out,
            params,
            text,
            span,
            implicit,
            ctx.depth,
            inner,
            component,
            provider,
        )
        nodes.append(node)
        return (node.index,), out

    def infer(
        self,
        component: Layer,
        bound: Mapping[str, Any],
        inputs: tuple[int, ...],
        shape: Any,
        span: Span | None,
        text: str,
        ctx: Ctx,
        *,
        merge_args: bool = False,
        inner_node: Node | None = None,
        **extra: Any,
    ) -> Out:
        """The node ``component``'s shape rule makes of ``shape``; an error (at the argument
        the rule names) and an unknown shape when it refuses, fails or answers nonsense."""
        try:
            result = component.infer(shape, bound, **extra)
        except ShapeProblem as p:
            self._refused(component, p, bound, extra, shape, span, ctx, merge_args)
            return inputs, UNKNOWN
        # a plugin's shape rule must not crash `check`
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            self.rule_failed(component, f"raised {type(exc).__name__}: {exc}", span, ctx)
            return inputs, UNKNOWN
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            self.rule_failed(
                component, f"returned {short(result)}, not (shape, parameter count)", span, ctx
            )
            return inputs, UNKNOWN
        out, params = result
        if (
            not is_shape(out)
            or not isinstance(params, int)
            or isinstance(params, bool)
            or params < 0
        ):
            self.rule_failed(
                component,
                f"returned {short((out, params))}, not (shape, parameter count)",
                span,
                ctx,
            )
            return inputs, UNKNOWN
        if self._too_large(component, out, params, span, ctx):
            return inputs, UNKNOWN
        return self.add(
            component, bound, inputs, shape, tuple(out), params, span, text, ctx, inner=inner_node
        )

    def _refused(
        self,
        component: Layer,
        p: ShapeProblem,
        bound: Mapping[str, Any],
        extra: Mapping[str, Any],
        shape: Any,
        span: Span | None,
        ctx: Ctx,
        merge_args: bool,
    ) -> None:
        """The rule's own refusal, at the argument it names (the wrapped layer's too)."""
        where = span
        source = getattr(bound, "sources", {}).get(p.param) if p.param else None
        if source is None and p.param and "inner" in extra:  # an argument of the wrapped layer
            source = getattr(getattr(extra["inner"], "args", None), "sources", {}).get(p.param)
        if source is not None and source.span is not None:
            where = source.span
        shown = format_shape(shape) if not merge_args else ", ".join(map(format_shape, shape))
        self.collector.error(
            NetdslShapeError(
                f"`{component.name}` cannot take its input: {p.message}",
                where,
                label=f"input is {shown}",
                code="NDL008",
                help=p.help,
            ),
            ctx.notes,
        )

    def _too_large(
        self, component: Layer, out: Any, params: int, span: Span | None, ctx: Ctx
    ) -> bool:
        values = size(tuple(d for d in out if d is not None))
        if params <= MAX_PARAMS and values <= MAX_VALUES:
            return False
        what = (
            f"{params:,} parameters ({params * 4 / 2**30:,.0f} GB of weights)"
            if params > MAX_PARAMS
            else f"an output of {values:,} values per example ({format_shape(tuple(out))})"
        )
        self.collector.error(
            NetdslLimitError(
                f"`{component.name}` would have {what}, more than netdsl builds "
                f"({MAX_PARAMS if params > MAX_PARAMS else MAX_VALUES:,})",
                span,
                label="too large",
                code="NDL012",
                help="use fewer units, filters or a smaller size",
            ),
            ctx.notes,
        )
        return True

    def rule_failed(self, component: Layer, what: str, span: Span | None, ctx: Ctx) -> None:
        """A plugin's shape rule (or adapter) that raised or answered nonsense: its bug, named."""
        entry = self.registry.entry("layer", component.name)
        self.collector.error(
            NetdslPluginError(
                f"the shape rule of `{component.name}` ({entry.provider if entry else '?'}) {what}",
                span,
                label="plugin error",
                code="NDL206",
                help="this is a bug in the plugin that provides the layer; report it there",
            ),
            ctx.notes,
        )


def step_text(layer: ir.Layer, ctx: Ctx) -> str:
    """A layer step as the program writes it, block parameters substituted."""
    if ctx.subst:
        layer = dataclasses.replace(layer, args=tuple(substitute(a, ctx.subst) for a in layer.args))
    return format_step(layer)


class Walker(Protocol):
    """What the walk's helpers (adapters, wrappers, names) see of the shape walk."""

    registry: Registry
    collector: Collector
    nodes: Nodes
    blocks: Blocks
    info: DataInfo | None
    program: ir.Program

    def chain(self, chain: ir.Chain, inp: Out, ctx: Ctx) -> Out: ...

    def binder(self, ctx: Ctx) -> Binder: ...

    def adapters(self, want: str) -> list[tuple[Layer, Any]]: ...
