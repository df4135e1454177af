"""netdsl: describe, check and train neural networks from one line of text.

``import netdsl`` is cheap: nothing heavy loads until it is used, and TensorFlow loads only
in :func:`build`, :func:`train`, :func:`evaluate` and :func:`load_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "parse", "check", "format", "build", "train", "evaluate", "load_model",
    "Program", "CheckedModel", "Registry", "load_registry", "default_registry",
    "NetdslError", "render",
]

_LAZY = {
    "parse": ("parser", "parse"),
    "check": ("checker", "check"),
    "CheckedModel": ("checker", "CheckedModel"),
    "format": ("formatter", "format"),
    "build": ("compiler", "build"),
    "train": ("training", "train"),
    "evaluate": ("training", "evaluate"),
    "load_model": ("saving", "load_model"),
    "Program": ("ir", "Program"),
    "Registry": ("registry", "Registry"),
    "load_registry": ("registry", "load_registry"),
    "default_registry": ("registry", "default_registry"),
    "NetdslError": ("errors", "NetdslError"),
    "render": ("diagnostics", "render"),
}


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
    from .checker import CheckedModel, check
    from .compiler import build
    from .diagnostics import render
    from .errors import NetdslError
    from .formatter import format
    from .ir import Program
    from .parser import parse
    from .registry import Registry, default_registry, load_registry
    from .saving import load_model
    from .training import evaluate, train
