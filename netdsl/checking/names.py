"""Names in the network that are not what they seem: an unknown layer (with what it may be
instead), an unknown word among its arguments, a layer name where a ``->`` is missing, and a
body of values where a layer takes no sub-network (``dense(64, relu)``)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ..errors import NetdslArgumentError, NetdslNameError, NetdslSyntaxError
from ..lang import ir
from ..lang.formatter import format_value
from ..lang.hints import missing_arrow
from ..vocab.components import KINDS, Layer
from ..vocab.registry import Registry, suggest
from ..vocab.settings import TABLE
from .bind import Binder, substitute, unknown_name
from .context import Ctx
from .nodes import Walker

__all__ = [
    "unknown_layer",
    "unknown_words",
    "known_words",
    "missing_arrow_after",
    "body_values",
    "chain_value",
]


def unknown_layer(walk: Walker, layer: ir.Layer, ctx: Ctx) -> None:
    err = unknown_name(
        walk.registry, "layer", layer.name, layer.name_span, extra=list(walk.blocks.defs)
    )
    if walk.registry.get("activation", layer.name) is not None:
        err.help = f"to apply an activation on its own, write `activation {layer.name}`"
    elif layer.name in TABLE and not layer.call and not layer.body:
        value = " ".join(format_value(a) for a in layer.args) or "..."
        err.help = f"`{layer.name}` is a setting: write `{layer.name}: {value}`"
    walk.collector.error(err, ctx.notes)


def unknown_words(walk: Walker, words: frozenset[str], layer: ir.Layer, ctx: Ctx) -> None:
    """An unknown layer's arguments cannot be bound, but a bare name among them that no
    component and no parameter of any layer knows (``words``) is a mistake of its own."""
    for arg in layer.args:
        value = arg.value
        if arg.key is not None or not isinstance(value, ir.Name) or value.value in ctx.subst:
            continue
        if value.value in words or value.value in walk.blocks.defs:
            continue
        close = suggest(value.value, sorted(words))
        walk.collector.error(
            NetdslNameError(
                f"unknown name `{value.value}`",
                value.span,
                label="not a known name",
                code="NDL003",
                help=f"did you mean `{close}`?" if close else None,
            ),
            ctx.notes,
        )


def known_words(registry: Registry, binder: Binder) -> frozenset[str]:
    """Every name an argument may be: components of every kind, and every option word."""
    words = {n for kind in KINDS for n in registry.names(kind, aliases=True)}
    for entry in registry.entries():
        for p in entry.component.params:
            words.update(p.type.names(binder))
    return frozenset(words)


def missing_arrow_after(
    walk: Walker, component: Layer, layer: ir.Layer, args: Sequence[ir.Arg], ctx: Ctx
) -> bool:
    """``dropout 0.2 dense 10``: a layer name among another layer's arguments, which no
    parameter of that layer takes, is a missing ``->`` (one error, not one per argument)."""

    def starts_a_layer(name: str) -> bool:
        if walk.registry.get("layer", name) is None and name not in walk.blocks.defs:
            return False
        binder = walk.binder(ctx)
        return not any(p.type.claims(name, binder) for p in component.params if p.positional)

    substituted = layer if args is layer.args else dataclasses.replace(layer, args=tuple(args))
    arg = missing_arrow(substituted, starts_a_layer)
    if arg is None or not isinstance(arg.value, ir.Name):
        return False
    name = arg.value.value
    walk.collector.error(
        NetdslSyntaxError(
            f"`{name}` starts another layer, but nothing joins it to `{layer.name}`",
            arg.value.span,
            label="a new layer starts here",
            code="NDL002",
            expected="`->` between layers",
            help=f"write `->` before `{name}`",
        ),
        ctx.notes,
    )
    return True


def body_values(walk: Walker, layer: ir.Layer, ctx: Ctx) -> list[ir.Arg]:
    """``dense(64, relu)``: a body that is one bare name is an argument, not a sub-network."""
    out = []
    for chain in layer.body:
        value = chain_value(chain)
        if value is not None:
            out.append(substitute(ir.Arg(value, span=value.span), ctx.subst))
        else:
            walk.collector.error(
                NetdslArgumentError(
                    f"`{layer.name}` takes values, not layers",
                    chain.span,
                    label="a sub-network",
                    code="NDL005",
                    help="only wrappers such as `residual(...)` enclose layers",
                ),
                ctx.notes,
            )
    return out


def chain_value(chain: ir.Chain) -> ir.Value | None:
    """Inside ``name(...)`` a bare name or call parses as a one-step chain; read it as the value
    it stands for (``relu``, ``l2(0.01)``), or None for a real sub-network."""
    step = chain.steps[0]
    if len(chain.steps) != 1 or not isinstance(step, ir.Layer):
        return None
    if not step.call:
        return None if step.args or step.body else ir.Name(step.name, step.span)
    inner = [chain_value(c) for c in step.body]
    if any(v is None for v in inner):
        return None
    args = (*step.args, *(ir.Arg(v, span=v.span) for v in inner if v is not None))
    return ir.Call(step.name, args, step.span, step.name_span)
