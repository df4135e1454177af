"""The Keras backends netdsl trains on, as one table, and which one a run uses.

Pure Python (no TensorFlow, no JAX). A component says where it runs with its ``backends`` field
(empty: every backend); :mod:`netdsl.checking.backends` checks a model against it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import NetdslTrainingError

__all__ = ["BACKENDS", "DEFAULT", "Backend", "install_hint", "resolve"]


@dataclass(frozen=True)
class Backend:
    """One Keras backend: its name (``KERAS_BACKEND``), the module it needs, the extra that installs it."""

    name: str
    module: str
    extra: str
    help: str


#: name -> row; the first is the default
BACKENDS: Mapping[str, Backend] = MappingProxyType(
    {
        b.name: b
        for b in (
            Backend("tensorflow", "tensorflow", "cpu", "TensorFlow (the default)"),
            Backend("jax", "jax", "jax", "JAX; the engine of multi-process training"),
        )
    }
)
DEFAULT = "tensorflow"


def resolve(backend: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The backend to use: the setting (``backend:`` / ``--backend``) if given, else
    ``$KERAS_BACKEND`` (Keras's own variable), else TensorFlow."""
    if backend is not None:
        if backend not in BACKENDS:
            raise NetdslTrainingError(
                f"`{backend}` is not a backend netdsl trains on",
                code="NDL320",
                expected=", ".join(f"`{b}`" for b in BACKENDS),
            )
        return backend
    env = environ.get("KERAS_BACKEND")
    if env is None or env == "":
        return DEFAULT
    if env not in BACKENDS:
        raise NetdslTrainingError(
            f"KERAS_BACKEND={env} is not a backend netdsl trains on",
            code="NDL320",
            expected=", ".join(f"`{b}`" for b in BACKENDS),
            help="unset KERAS_BACKEND, or give `--backend tensorflow` or `--backend jax`",
        )
    return env


def install_hint(backend: str) -> str:
    """What to install for a backend, e.g. ``pip install 'netdsl[jax]'``."""
    return f"pip install 'netdsl[{BACKENDS[backend].extra}]'"
