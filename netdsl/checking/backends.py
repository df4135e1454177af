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


def _components(model: Any) -> Iterable[tuple[Any, Any, str]]:
    """(component, span, what) for every node (wrapped layers too) and every setting reference."""
    stack = list(model.nodes)
    while stack:
        node = stack.pop(0)
        if node.component is not None:
            yield node.component, node.span, f"layer `{node.layer}`"
        if node.inner is not None:
            stack.insert(0, node.inner)
    for key, value in model.settings.items():
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, Ref) and ref.component is not None:
                setting = model.program.setting(key)
                span = setting.value.span if setting is not None else None
                yield ref.component, span, f"{ref.kind} `{ref.name}`"
                for _, arg in ref.args:
                    if isinstance(arg, Ref) and arg.component is not None:
                        yield arg.component, span, f"{arg.kind} `{arg.name}`"


def problems(model: Any, backend: str) -> list[NetdslError]:
    """One error per component of ``model`` (a checked model) that cannot run on ``backend``,
    at the line that uses it."""
    out: list[NetdslError] = []
    for component, span, what in _components(model):
        allowed = tuple(getattr(component, "backends", ()) or ())
        if allowed and backend not in allowed:
            err = NetdslTrainingError(
                f"{what} does not run on the {backend} backend", span,
                label=f"not on {backend}", code="NDL320",
                expected=", ".join(f"`{b}`" for b in allowed),
                help=f"use `--backend {allowed[0]}`, or another {component.kind}")
            err.source = model.program.source
            out.append(err)
    return out
