"""Shared fixtures for the language tests: the built-in registry, paths, and small helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netdsl.vocab.registry import Registry, load_registry

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = ROOT / "examples"

#: the seed model of issue 1: 784 -> 64 -> 10, 50,890 parameters
SEED = "dense 64 relu l2 -> dense 10 softmax\n"

_REGISTRY: Registry | None = None


def builtin_registry() -> Registry:
    """The built-in vocabulary only (no third-party plugins), loaded once per test session."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry(third_party=False)
    return _REGISTRY


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The built-in registry: what every language test checks against (deterministic)."""
    return builtin_registry()


def has_layers(*names: str) -> bool:
    reg = builtin_registry()
    return all(reg.get("layer", n) is not None for n in names)


def needs_layers(*names: str) -> Any:
    """Skip a test (or a table row) until the built-in registry provides these layers."""
    return pytest.mark.skipif(
        not has_layers(*names), reason=f"the registry has no {', '.join(names)} yet"
    )


def strip_spans(data: Any) -> Any:
    """``to_dict()`` output without spans (and without comments), for comparing structure."""
    if isinstance(data, dict):
        return {
            k: strip_spans(v) for k, v in data.items() if not k.endswith("span") and k != "comments"
        }
    if isinstance(data, list):
        return [strip_spans(v) for v in data]
    return data
