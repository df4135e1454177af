"""Parse, check and the language server's analysis free what they build by reference counting.

A reference cycle (a bound method kept on its own instance, say) leaves a whole checked graph
to Python's cyclic garbage collector; in the language server that garbage piled up at every
keystroke and its full collections were the long pauses of the re-check latency (BENCHMARKS.md,
"Language server: re-check latency"). These tests fail if any cycle comes back.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import SEED

from netdsl.checking.checker import check
from netdsl.errors import NetdslError
from netdsl.lang.parser import parse
from netdsl.vocab.registry import Registry

PROGRAMS = [
    pytest.param(SEED, id="seed"),
    pytest.param(
        "block conv(f) = conv2d f 3 relu same -> maxpool 2\n"
        "dataset: synthetic\ninput: 28x28x1\n"
        "conv(8) -> (conv2d 8 3 same) * 2 -> [flatten | flatten] concat\n"
        "  -> dense 32 relu -> residual(dense 32 relu -> dense 32) -> dense 10 softmax",
        id="blocks-branches-wrappers",
    ),
    pytest.param("dense 64 relux -> dense 10 softmax", id="unknown-activation"),
    pytest.param(
        "dense 64 relu\n  -> dense 10 softmax units=3\noptimizer: adamm", id="several-errors"
    ),
    pytest.param("dense 64 relu ->\n  -> dense 10", id="syntax-error"),
]


@pytest.fixture
def no_gc() -> Iterator[None]:
    """The cyclic collector off, with nothing left over from before."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _quietly(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(NetdslError):
        fn()


@pytest.mark.parametrize("text", PROGRAMS)
def test_check_leaves_no_cyclic_garbage(text: str, registry: Registry, no_gc: None) -> None:
    _quietly(lambda: check(parse(text, "m.net"), registry))  # first use: lazy imports and tables
    gc.collect()
    for _ in range(3):
        _quietly(lambda: check(parse(text, "m.net"), registry))
    assert gc.collect() == 0


@pytest.mark.parametrize("text", PROGRAMS)
def test_server_analysis_leaves_no_cyclic_garbage(
    text: str, registry: Registry, no_gc: None
) -> None:
    pytest.importorskip("lsprotocol")
    from netdsl.tools.lsp_features import analyze

    analyze("file:///m.net", text, registry, "utf-16").diagnostics()  # first use
    gc.collect()
    for _ in range(3):
        analysis = analyze("file:///m.net", text, registry, "utf-16")
        analysis.diagnostics()
        del analysis
    assert gc.collect() == 0
