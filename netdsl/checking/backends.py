"""Does every component of a checked model run on the chosen Keras backend?

Pure Python: ``netdsl check --backend jax`` answers from the components' declarations alone
(their ``backends`` field; empty: every backend). A layer, loss, optimizer or metric that cannot
run on the chosen backend is an error at the line that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import NetdslError, NetdslTrainingError
from ..vocab.components import Ref

__all__ = ["problems"]


def _components(model: Any) -> Iterable[tuple[Any, Any, str, str]]:
    """(component, span, kind, name) for every node (wrapped layers too) and every setting's
    reference."""
    stack = list(reversed(model.nodes))  # popped from the end: each node, then what it wraps
    while stack:
        node = stack.pop()
        if node.component is not None:
            yield node.component, node.span, "layer", node.layer
        if node.inner is not None:
            stack.append(node.inner)
    yield from _setting_components(model)


def _setting_components(model: Any) -> Iterable[tuple[Any, Any, str, str]]:
    """(component, span, kind, name) for every reference in the settings."""
    for key, value in model.settings.items():
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, Ref) and ref.component is not None:
                setting = model.program.setting(key)
                span = setting.value.span if setting is not None else None
                yield ref.component, span, ref.kind, ref.name
                for _, arg in ref.args:
                    if isinstance(arg, Ref) and arg.component is not None:
                        yield arg.component, span, arg.kind, arg.name


def _any_restricted(model: Any, backend: str) -> bool:
    """Whether any component of ``model`` (each looked at once) cannot run on ``backend``: a
    plain loop, since every check asks it and nearly every answer is no."""
    seen: set[int] = set()
    components = [n.component for n in model.nodes]
    components += [n.inner.component for n in model.nodes if n.inner is not None]
    for ref in model.settings.references():
        components.append(ref.component)
        components += [a.component for _, a in ref.args if isinstance(a, Ref)]
    for c in components:
        if id(c) in seen:
            continue
        seen.add(id(c))
        allowed = getattr(c, "backends", None)
        if allowed and backend not in allowed:
            return True
    return False


def problems(model: Any, backend: str) -> list[NetdslError]:
    """One error per component of ``model`` (a checked model) that cannot run on ``backend``,
    at the line that uses it."""
    out: list[NetdslError] = []
    if not _any_restricted(model, backend):  # the common case, without a walk in Python
        return out
    for component, span, kind, name in _components(model):
        allowed = tuple(getattr(component, "backends", ()) or ())
        if allowed and backend not in allowed:
            what = f"{kind} `{name}`"
            err = NetdslTrainingError(
                f"{what} does not run on the {backend} backend",
                span,
                label=f"not on {backend}",
                code="NDL320",
                expected=", ".join(f"`{b}`" for b in allowed),
                help=f"use `--backend {allowed[0]}`, or another {component.kind}",
            )
            err.source = model.program.source
            out.append(err)
    return out
