"""What may feed a layer: the implicit adapter its input needs (declared by the adapter layers,
e.g. ``flatten`` before ``dense`` on images), the hint when none fits, and the rule for layers
that read integer ids (``embedding``)."""

from __future__ import annotations

from typing import Any

from ..errors import NetdslArgumentError, NetdslShapeError
from ..lang import ir
from ..lang.formatter import format_step
from ..vocab import types as T
from ..vocab.components import INPUT_KINDS, Layer
from ..vocab.registry import Registry
from ..vocab.settings import value_to_ir
from .context import UNKNOWN, BoundStep, Ctx, Out, note
from .graph import Node, Shape, format_shape
from .nodes import Nodes, Walker

__all__ = ["adapt", "adapters", "reads_ids"]


def adapters(registry: Registry, want: str) -> list[tuple[Layer, Any]]:
    """Every adapter layer that turns an input into ``want`` (the walk keeps the answer)."""
    return [
        (e.component, a)
        for e in registry.entries("layer")
        if isinstance(e.component, Layer)
        for a in e.component.adapters
        if a.to == want
    ]


def _written(component: Layer, args: dict[str, Any]) -> str:
    """An adapter step as a program would write it."""
    types = {p.name: p.type for p in component.params}
    return format_step(
        ir.Layer(
            component.name, tuple(ir.Arg(value_to_ir(v, types.get(k))) for k, v in args.items())
        )
    )


def adapt(walk: Walker, component: Layer, inp: Out, layer: ir.Layer, ctx: Ctx) -> Out:
    """Insert the implicit adapter a layer's input needs (declared by the adapter layers),
    or explain why it cannot be fed, with a step that would make it fit."""
    shape, want = inp[1], component.accepts
    if want == "any" or len(shape) == INPUT_KINDS[want][0]:
        return inp
    for adapter_layer, adapter in walk.adapters(want):
        try:
            args = adapter.args(shape) if adapter.implicit else None
            if args is not None:
                args = dict(args)
        # a plugin's adapter must not crash `check`
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            walk.nodes.rule_failed(
                adapter_layer,
                f"(its adapter to {want}) raised {type(exc).__name__}: {exc}",
                layer.name_span,
                ctx,
            )
            return inp[0], UNKNOWN
        if args is not None:
            return _implicit(walk.nodes, adapter_layer, args, inp, layer, ctx)
    needs = INPUT_KINDS[want][1]
    hints = [
        h for h in (_switch_hint(walk.nodes, want, inp[0]), _adapter_hint(walk, want, shape)) if h
    ]
    walk.collector.error(
        NetdslShapeError(
            f"`{layer.name}` needs {needs}, but its input has shape {format_shape(shape)}",
            layer.name_span,
            label=f"input is {format_shape(shape)}",
            code="NDL008",
            help="; or ".join(hints) or None,
        ),
        ctx.notes,
    )
    return inp[0], UNKNOWN


def _switch_hint(nodes: Nodes, want: str, inputs: tuple[int, ...]) -> str | None:
    """``return_sequences=false``: a true/false argument of the layer before that would make
    its output what this layer needs (found by running its shape rule, not by name)."""
    if len(inputs) != 1 or not 0 <= inputs[0] < len(nodes.made):
        return None
    node = nodes.made[inputs[0]]
    component = node.component
    if component is None or component.wrapper or component.merge or node.implicit:
        return None
    for p in component.params:
        value = node.kwargs.get(p.name)
        if not isinstance(p.type, T.Bool) or not isinstance(value, bool):
            continue
        try:
            out, _ = component.infer(node.input_shape, {**node.kwargs, p.name: not value})
            len(out)
        except (Exception, SystemExit):  # noqa: BLE001 - only a working rule gives a hint
            continue
        if len(out) == INPUT_KINDS[want][0]:
            return f"set `{p.name}={str(not value).lower()}` on `{node.layer}`"
    return None


def _adapter_hint(walk: Walker, want: str, shape: Shape) -> str | None:
    """Steps the user can write to turn ``shape`` into ``want``, each checked to work."""
    steps: list[str] = []
    for adapter_layer, adapter in walk.adapters(want):
        try:
            args = adapter.args(shape)
            if args is None:
                continue
            full = {p.name: p.default for p in adapter_layer.params}
            full.update(args)
            out, _ = adapter_layer.infer(shape, full)
            len(out)
        except (Exception, SystemExit):  # noqa: BLE001 - only a working rule gives a hint
            continue
        step = f"`{_written(adapter_layer, dict(args))}`"
        if len(out) == INPUT_KINDS[want][0] and step not in steps:
            steps.append(step)
    if not steps:
        return None
    return f"add {' or '.join(steps[:3])} before it"


def _implicit(
    nodes: Nodes, component: Layer, args: dict[str, Any], inp: Out, layer: ir.Layer, ctx: Ctx
) -> Out:
    full = {p.name: p.default for p in component.params}
    full.update(args)
    try:
        shape, params = component.infer(inp[1], full)
        shape = tuple(shape)
    # a plugin's shape rule must not crash `check`
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        nodes.rule_failed(component, f"raised {type(exc).__name__}: {exc}", layer.name_span, ctx)
        return inp[0], UNKNOWN
    text = f"{_written(component, args)} (implicit)"
    return nodes.add(
        component, full, inp[0], inp[1], shape, params, layer.name_span, text, ctx, implicit=True
    )


def reads_ids(walk: Walker, step: BoundStep, inputs: tuple[int, ...], ctx: Ctx) -> bool:
    """A layer reading integer ids (``reads_ids``, e.g. ``embedding``) must read the program's
    input through ``keeps_values`` layers only (a layer computing real values would feed it
    ids out of range at run time), and cover the dataset's vocabulary when it declares one."""
    component, name = step.component, step.component.reads_ids
    assert name is not None
    producer = _value_source(walk.nodes, inputs)
    source = getattr(step.bound, "sources", {}).get(name)
    at = source.span if source is not None and source.span is not None else step.layer.name_span
    if producer is not None:
        walk.collector.error(
            NetdslShapeError(
                f"`{component.name}` reads integer ids, but `{producer.layer}` before it outputs "
                "real "
                f"values (read as ids they fall outside 0..`{name}`-1 while training)",
                step.layer.name_span,
                label="reads ids",
                code="NDL008",
                notes=note(producer.span, "real values come from here"),
                help=f"put `{component.name}` first, reading the dataset's ids (only layers that "
                "keep "
                f"values, such as `reshape` or `flatten`, may come before it)",
            ),
            ctx.notes,
        )
        return False
    vocabulary, column = _input_vocabulary(walk, inputs)
    if vocabulary is None and walk.info is not None:
        vocabulary = walk.info.vocabulary
    whose = f"the ids of `{column}`" if column else "the dataset's ids"
    bound = step.bound.get(name)
    if vocabulary is not None and isinstance(bound, int) and bound < vocabulary:
        dataset = walk.program.setting("dataset")
        walk.collector.error(
            NetdslArgumentError(
                f"`{name}={bound:,}` of `{component.name}` does not cover {whose}, which "
                "go "
                f"up to {vocabulary - 1:,} (a vocabulary of {vocabulary:,})",
                at,
                label=f"ids up to {vocabulary - 1:,}",
                code="NDL005",
                notes=note(dataset.value.span if dataset else None, "the vocabulary is set here"),
                help=f"use `{name}={vocabulary}`"
                + ("" if column else ", or a smaller vocabulary in the dataset"),
            ),
            ctx.notes,
        )
        return False
    return True


def _input_vocabulary(walk: Walker, inputs: tuple[int, ...]) -> tuple[int | None, str]:
    """The vocabulary of the graph input read directly (a routed text column's token ids)
    and that input's name; ``(None, "")`` for any other input."""
    scope = getattr(walk, "graph", None)
    if scope is None or len(inputs) != 1 or inputs[0] >= 0:
        return None, ""
    k = -1 - inputs[0]
    found = scope.order[k] if k < len(scope.order) else None
    if found is None or found.vocabulary is None:
        return None, ""
    return found.vocabulary, found.name


def _value_source(nodes: Nodes, inputs: tuple[int, ...]) -> Node | None:
    """The first layer before ``inputs`` (through ``keeps_values`` layers) that computes new
    values; None when only the program's input reaches them."""
    todo, seen = list(inputs), set()
    while todo:
        i = todo.pop()
        if i < 0 or i in seen:
            continue
        seen.add(i)
        node = nodes.made[i]
        if node.component is None or not node.component.keeps_values:
            return node
        todo.extend(node.inputs)
    return None
