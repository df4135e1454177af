"""Layers that enclose others: a wrapper of a sub-network (``residual(a -> b)``, which adds
its input) and a wrapper of one layer (``bidirectional(lstm 64)``)."""

from __future__ import annotations

from typing import Sequence

from ..errors import NetdslArgumentError
from ..lang import ir
from ..vocab.components import Layer
from .bind import substitute
from .context import UNKNOWN, Ctx, Out
from .graph import Node, Shape
from .inputs import adapt
from .names import unknown_layer
from .nodes import Walker, step_text

__all__ = ["wrap_chain", "wrap_layer"]


def _single_body(walk: Walker, layer: ir.Layer, ctx: Ctx) -> ir.Chain | None:
    if len(layer.body) != 1:
        walk.collector.error(
            NetdslArgumentError(
                f"`{layer.name}` wraps one sub-network: `{layer.name}(a -> b)`",
                layer.span,
                label=f"{len(layer.body)} given",
                code="NDL005",
            ),
            ctx.notes,
        )
        return None
    return layer.body[0]


def wrap_chain(
    walk: Walker, component: Layer, layer: ir.Layer, args: Sequence[ir.Arg], inp: Out, ctx: Ctx
) -> Out:
    """``residual(a -> b)``: the body walked one level deeper, then the wrapper's node on the
    input and the body's output."""
    body = _single_body(walk, layer, ctx)
    bound = walk.binder(ctx).bind(component, args, layer.name_span)
    if body is None:
        return inp[0], UNKNOWN
    inner = Ctx(ctx.subst, ctx.notes, ctx.blocks, ctx.depth + 1, ctx.nesting + 1, ctx.shallow)
    out = walk.chain(body, inp, inner)
    if bound is None or inp[1] is UNKNOWN or out[1] is UNKNOWN:
        return inp[0], UNKNOWN
    inputs = (inp[0][0] if inp[0] else -1, out[0][0] if out[0] else -1)
    return walk.nodes.infer(
        component,
        bound,
        inputs,
        [inp[1], out[1]],
        layer.name_span,
        f"{layer.name} (adds its input)",
        ctx,
        merge_args=True,
    )


def wrap_layer(
    walk: Walker, component: Layer, layer: ir.Layer, args: Sequence[ir.Arg], inp: Out, ctx: Ctx
) -> Out:
    """``bidirectional(lstm 64)``: exactly one layer inside, bound, and handed to the wrapper's
    shape rule as ``inner``."""
    body = _single_body(walk, layer, ctx)
    bound = walk.binder(ctx).bind(component, args, layer.name_span)
    if body is None:
        return inp[0], UNKNOWN
    found = _one_layer(walk, layer, body, ctx)
    if found is None:
        return inp[0], UNKNOWN
    step, inner_c = found
    inner_args = tuple(substitute(a, ctx.subst) for a in step.args)
    inner_bound = walk.binder(ctx).bind(inner_c, inner_args, step.name_span)
    if bound is None or inner_bound is None or inp[1] is UNKNOWN:
        return inp[0], UNKNOWN
    inp = adapt(walk, component, inp, layer, ctx)
    if inp[1] is UNKNOWN:
        return inp
    entry = walk.registry.entry("layer", inner_c.name)
    provider = str(entry.provider) if entry else ""
    inner_node = Node(
        -1,
        inner_c.name,
        tuple(inner_bound.items()),
        (),
        None,
        (),
        0,
        step_text(step, ctx),
        step.span,
        component=inner_c,
        provider=provider,
    )

    def inner(shape: Shape) -> tuple[Shape, int]:
        return inner_c.infer(shape, inner_bound)

    inner.args = inner_bound  # type: ignore[attr-defined]  # the wrapped layer's arguments

    return walk.nodes.infer(
        component,
        bound,
        inp[0],
        inp[1],
        layer.span,
        step_text(layer, ctx),
        ctx,
        inner=inner,
        inner_layer=inner_c,
        inner_node=inner_node,
    )


def _one_layer(
    walk: Walker, layer: ir.Layer, body: ir.Chain, ctx: Ctx
) -> tuple[ir.Layer, Layer] | None:
    """The one layer step a layer wrapper encloses, and its declaration; None after reporting
    an unknown layer, or a body that is not exactly one (unwrapped) layer."""
    step = body.steps[0]
    inner_c = walk.registry.get("layer", step.name) if isinstance(step, ir.Layer) else None
    if (
        len(body.steps) == 1
        and isinstance(step, ir.Layer)
        and isinstance(inner_c, Layer)
        and not inner_c.wrapper
    ):
        return step, inner_c
    if isinstance(step, ir.Layer) and inner_c is None and len(body.steps) == 1:
        unknown_layer(walk, step, ctx)
    else:
        walk.collector.error(
            NetdslArgumentError(
                f"`{layer.name}` wraps exactly one layer, e.g. `{layer.name}(lstm 64)`",
                body.span,
                label="not one layer",
                code="NDL005",
            ),
            ctx.notes,
        )
    return None
