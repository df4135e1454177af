"""netdsl: describe, check and train neural networks from one line of text.

``import netdsl`` is cheap: nothing heavy loads until it is used, and TensorFlow loads only
in :func:`build`, :func:`train`, :func:`evaluate` and :func:`load_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

__all__ = [
    "CheckedModel",
    "NetdslError",
    "Program",
    "Registry",
    "__version__",
    "build",
    "check",
    "check_run",
    "default_registry",
    "evaluate",
    "format",
    "load_model",
    "load_registry",
    "parse",
    "render",
    "train",
]

_LAZY = {
    "check": ("checking.checker", "check"),
    "check_run": ("checking.recorded", "check_run"),
    "CheckedModel": ("checking.plan", "CheckedModel"),
    "format": ("lang.formatter", "format"),
    "build": ("keras.compiler", "build"),
    "train": ("keras.training", "train"),
    "evaluate": ("keras.training", "evaluate"),
    "load_model": ("keras.saving", "load_model"),
    "Program": ("lang.ir", "Program"),
    "Registry": ("vocab.registry", "Registry"),
    "load_registry": ("vocab.registry", "load_registry"),
    "default_registry": ("vocab.registry", "default_registry"),
    "NetdslError": ("errors", "NetdslError"),
    "render": ("lang.diagnostics", "render"),
}


def parse(text: str | bytes, filename: str | None = None) -> Program:
    """Parse netdsl source into an IR :class:`Program` (syntax only: no registry, no TensorFlow).

    Raises a :class:`NetdslError` with a span on any bad input (see :func:`netdsl.lang.parser.parse`).
    """
    from .lang.parser import parse as parse_text
    from .vocab.settings import TABLE

    return parse_text(text, filename, setting_names=TABLE)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'netdsl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .checking.checker import check
    from .checking.plan import CheckedModel
    from .checking.recorded import check_run
    from .errors import NetdslError
    from .keras.compiler import build
    from .keras.saving import load_model
    from .keras.training import evaluate, train
    from .lang.diagnostics import render
    from .lang.formatter import format
    from .lang.ir import Program
    from .vocab.registry import Registry, default_registry, load_registry
