"""Helpers the layer families share: shape text, per-axis sizes, sliding windows, rank checks,
the common multiply-accumulate rules and parameter types.

Not a plugin (no hooks): ``conv``, ``pooling``, ``recurrent`` and the other layer-family modules
import it, so that each of them holds only its own layers. Shapes exclude the batch axis; images
are channels-last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import prod
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Param, Shape, ShapeProblem
from netdsl_builtins.layers import INITIALIZERS

__all__ = [
    "ACT",
    "HINT",
    "INIT",
    "PADDING",
    "RATE",
    "REG",
    "Args",
    "axes",
    "bias",
    "channels",
    "dims",
    "no_macs",
    "per_value",
    "regularizer_params",
    "require_rank",
    "same_shape",
    "sliding",
]

Args = Mapping[str, Any]

#: what an input of each rank is, and how to get one, for "expected ..." messages
WHAT = {
    1: "a vector",
    2: "a sequence (steps x features)",
    3: "an image (height x width x channels)",
}
HINT = {
    1: "flatten first: `flatten`",
    2: "reshape first, e.g. `reshape 28x28`",
    3: "reshape first, e.g. `reshape 28x28x1`",
}

REG = T.Ref("regularizer")
ACT = T.Ref("activation")
INIT = T.Choice(INITIALIZERS)
PADDING = T.Choice(("valid", "same"))
RATE = T.Float(min=0, max=1, max_open=True)


def dims(shape: Sequence[int | None]) -> str:
    """``28x28x1``-style text for a shape (``?`` for an unknown size)."""
    return "x".join("?" if d is None else str(d) for d in shape)


def axes(value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """A Keras size argument (one integer, or one per axis) as one integer per axis."""
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def bias(a: Args, n: int) -> int:
    """The bias parameters of a layer with ``n`` outputs (none without ``use_bias``)."""
    return n if a["use_bias"] else 0


def require_rank(shape: Shape, rank: int) -> None:
    """Raise unless the input has ``rank`` axes (1 vector, 2 sequence, 3 image)."""
    if len(shape) != rank:
        raise ShapeProblem(f"expected {WHAT[rank]}, found shape {dims(shape)}", help=HINT[rank])


def channels(shape: Shape, rank: int) -> int:
    """The (known) last axis of an input of ``rank`` axes."""
    require_rank(shape, rank)
    if shape[-1] is None:
        raise ShapeProblem(
            f"the last axis of {dims(shape)} must have a known size",
            help="give the input a fixed number of channels or features",
        )
    return int(shape[-1])


def _window(
    sizes: Sequence[int | None],
    window: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: str,
    param: str,
) -> tuple[int | None, ...]:
    """Output sizes of a sliding window (convolution or pooling) per axis, as Keras computes
    them."""
    span = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
    out = tuple(
        None if n is None else (n - k) // s + 1 if padding == "valid" else (n - 1) // s + 1
        for n, k, s in zip(sizes, span, strides)
    )
    if any(o is not None and o <= 0 for o in out):
        dilated = span != window
        what = {"pool_size": "pool"}.get(param, "dilated kernel" if dilated else "kernel")
        fits = all(n is None or n >= k for n, k in zip(sizes, window))
        raise ShapeProblem(
            f"the {what} {dims(span)} is larger than the input {dims(sizes)} with `valid` padding",
            "dilation_rate" if dilated and fits else param,
            help=f"use `same` padding, a smaller `{param}`, or downsample less before this layer",
        )
    return out


def sliding(
    shape: Shape, a: Args, rank: int, window: str = "kernel_size", dilation_ok: bool = True
) -> tuple[int | None, ...]:
    """Spatial output sizes of a convolution or pooling of ``rank`` spatial axes."""
    size = axes(a[window], rank)
    strides = size if a["strides"] is None else axes(a["strides"], rank)
    dilation = axes(a.get("dilation_rate", 1), rank)
    if not dilation_ok and max(strides) > 1 and max(dilation) > 1:
        raise ShapeProblem(
            "`strides` > 1 cannot be combined with `dilation_rate` > 1",
            "dilation_rate",
            help="use strides 1 with dilation, or no dilation",
        )
    return _window(shape[:-1], size, strides, dilation, a["padding"], window)


def same_shape(shapes: Sequence[Shape]) -> Shape | None:
    """The common shape of several (unknown sizes match anything), or None if they differ."""
    first = shapes[0]
    if any(len(s) != len(first) for s in shapes):
        return None
    out = []
    for sizes in zip(*shapes):
        known = {d for d in sizes if d is not None}
        if len(known) > 1:
            return None
        out.append(None if None in sizes else sizes[0])
    return tuple(out)


# --- multiply-accumulates per example (``netdsl summary --flops``) -------------------------------
# A layer's main arithmetic for one example: matrix products and convolutions, every element of
# a pooling window, one per value for a merge or normalisation. Activations are not counted.


def per_value(shape: Shape, out: Shape, a: Args) -> int:
    """One multiply-add per output value (a normalisation, or the add of a residual block)."""
    return prod(out)


def no_macs(shape: Any, out: Shape, a: Args) -> int:
    """Copies, pads, looks up or masks values: no arithmetic."""
    return 0


def regularizer_params(kernel: str = "kernel") -> tuple[Param, ...]:
    """The kernel (positional), bias and activity regularizers."""
    return (
        Param(f"{kernel}_regularizer", REG, None, positional=True),
        Param("bias_regularizer", REG, None),
        Param("activity_regularizer", REG, None),
    )
