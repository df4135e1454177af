"""The Keras backends netdsl trains on, as one table, and the check that a model's components run on one.

Pure Python (no TensorFlow, no JAX): ``netdsl check --backend jax`` answers from the
declarations alone. A component says where it runs with its ``backends`` field (empty: every
backend); a layer, loss, optimizer or metric that cannot run on the chosen backend is an error
at the line that uses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from .errors import NetdslError, NetdslTrainingError

__all__ = ["Backend", "BACKENDS", "DEFAULT", "resolve", "problems", "install_hint"]


@dataclass(frozen=True)
class Backend:
    """One Keras backend: its name (``KERAS_BACKEND``), the module it needs, the extra that installs it."""

    name: str
    module: str
    extra: str
    help: str


#: name -> row; the first is the default
BACKENDS: Mapping[str, Backend] = MappingProxyType({b.name: b for b in (
    Backend("tensorflow", "tensorflow", "cpu", "TensorFlow (the default)"),
    Backend("jax", "jax", "jax", "JAX; the engine of multi-process training"),
)})
DEFAULT = "tensorflow"


def resolve(backend: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The backend to use: the setting (``backend:`` / ``--backend``) if given, else
    ``$KERAS_BACKEND`` (Keras's own variable), else TensorFlow."""
    if backend is not None:
        if backend not in BACKENDS:
            raise NetdslTrainingError(f"`{backend}` is not a backend netdsl trains on", code="NDL320",
                                     expected=", ".join(f"`{b}`" for b in BACKENDS))
        return backend
    env = environ.get("KERAS_BACKEND")
    if env is None or env == "":
        return DEFAULT
    if env not in BACKENDS:
        raise NetdslTrainingError(
            f"KERAS_BACKEND={env} is not a backend netdsl trains on", code="NDL320",
            expected=", ".join(f"`{b}`" for b in BACKENDS),
            help="unset KERAS_BACKEND, or give `--backend tensorflow` or `--backend jax`")
    return env


def install_hint(backend: str) -> str:
    """What to install for a backend, e.g. ``pip install 'netdsl[jax]'``."""
    return f"pip install 'netdsl[{BACKENDS[backend].extra}]'"


def _components(model: Any) -> Iterable[tuple[Any, Any, str]]:
    """(component, span, what) for every node (wrapped layers too) and every setting reference."""
    from .components import Ref

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
