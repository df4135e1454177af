"""Built-in convolution layers: conv1d, conv2d, separable_conv2d, depthwise_conv2d and
conv2d_transpose.

Each layer's parts sit together: its shape and parameter-count rule (``infer``, written to agree
with Keras exactly; ``tests/test_layers_keras.py`` compares them, so that ``check`` and
``summary`` never import TensorFlow), its multiply-accumulate count and its declaration.
"""

from __future__ import annotations

from math import prod
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, ShapeProblem, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.rules import activated, initializer_ranks, matrix_regularizers
from netdsl_builtins.shapes import (
    ACT,
    INIT,
    PADDING,
    REG,
    Args,
    axes,
    bias,
    channels,
    dims,
    regularizer_params,
    sliding,
)

# --- conv1d, conv2d -----------------------------------------------------------------------------


def _conv(shape: Shape, a: Args, rank: int) -> tuple[Shape, int]:
    """``conv1d``/``conv2d``: filters outputs per position, a kernel over every input channel."""
    c = channels(shape, rank + 1)
    sizes = sliding(shape, a, rank, dilation_ok=False)
    f = a["filters"]
    params = prod(axes(a["kernel_size"], rank)) * c * f + bias(a, f)
    return activated((*sizes, f), a["activation"]), params


def _conv1d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Conv1D over a sequence (steps x channels)."""
    return _conv(shape, a, 1)


def _conv2d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Conv2D over an image (height x width x channels)."""
    return _conv(shape, a, 2)


def _conv_macs(shape: Shape, out: Shape, a: Args) -> int:
    """Every output position: a kernel over every input channel, for each filter."""
    rank = len(shape) - 1
    return int(prod(out[:-1]) * prod(axes(a["kernel_size"], rank)) * shape[-1] * a["filters"])


def _conv_params(rank: int, padding: T.Choice = PADDING) -> tuple[Param, ...]:
    """The parameters of Conv1D/Conv2D, in Keras's order."""
    one = 1 if rank == 1 else (1,) * rank
    return (
        Param("filters", T.Int(min=1), positional=True, help="number of output channels"),
        Param("kernel_size", T.Size(rank), positional=True, help="window size, e.g. 3 or 3x3"),
        Param("strides", T.Size(rank), one),
        Param(
            "padding", padding, "valid", positional=True, help="`valid` shrinks, `same` keeps size"
        ),
        Param("dilation_rate", T.Size(rank), one),
        Param("activation", ACT, None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("kernel_initializer", INIT, "glorot_uniform"),
        Param("bias_initializer", INIT, "zeros"),
        *regularizer_params(),
    )


def _conv_rules(rank: int) -> tuple[Any, ...]:
    """What Keras refuses in a convolution's arguments: weights of rank+2 dimensions."""
    return (
        initializer_ranks(kernel_initializer=rank + 2, bias_initializer=1),
        matrix_regularizers(
            kernel_regularizer=rank + 2, bias_regularizer=1, activity_regularizer=rank + 2
        ),
    )


CONV1D = Layer(
    name="conv1d",
    description="1D convolution over steps: filters sliding windows of kernel_size steps",
    params=_conv_params(1, T.Choice(("valid", "same", "causal"))),
    infer=_conv1d,
    accepts="sequence",
    rules=_conv_rules(1),
    build=keras_factory("layers.Conv1D"),
    macs=_conv_macs,
)

CONV2D = Layer(
    name="conv2d",
    description="2D convolution: filters kernel_size windows sliding over the image",
    params=_conv_params(2),
    infer=_conv2d,
    accepts="image",
    rules=_conv_rules(2),
    build=keras_factory("layers.Conv2D"),
    macs=_conv_macs,
)

# --- separable_conv2d ---------------------------------------------------------------------------


def _separable(shape: Shape, a: Args) -> tuple[Shape, int]:
    """SeparableConv2D: a depthwise kernel per channel, then a 1x1 pointwise kernel, then bias."""
    c = channels(shape, 3)
    sizes = sliding(shape, a, 2)
    f, m = a["filters"], a["depth_multiplier"]
    depthwise = prod(axes(a["kernel_size"], 2)) * c * m
    return activated((*sizes, f), a["activation"]), depthwise + c * m * f + bias(a, f)


def _separable_macs(shape: Shape, out: Shape, a: Args) -> int:
    """The depthwise windows, then a 1x1 convolution of the depthwise channels."""
    depth = shape[-1] * a["depth_multiplier"]
    return int(prod(out[:-1]) * depth * (prod(axes(a["kernel_size"], 2)) + a["filters"]))


SEPARABLE_CONV2D = Layer(
    name="separable_conv2d",
    description="depthwise then pointwise (1x1) convolution: a cheaper conv2d",
    params=(
        Param("filters", T.Int(min=1), positional=True, help="number of output channels"),
        Param("kernel_size", T.Size(2), positional=True),
        Param("strides", T.Size(2), (1, 1)),
        Param("padding", PADDING, "valid", positional=True),
        Param("dilation_rate", T.Size(2), (1, 1)),
        Param("depth_multiplier", T.Int(min=1), 1, help="depthwise channels per input channel"),
        Param("activation", ACT, None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("depthwise_initializer", INIT, "glorot_uniform"),
        Param("pointwise_initializer", INIT, "glorot_uniform"),
        Param("bias_initializer", INIT, "zeros"),
        Param("depthwise_regularizer", REG, None),
        Param("pointwise_regularizer", REG, None),
        Param("bias_regularizer", REG, None),
        Param("activity_regularizer", REG, None),
    ),
    infer=_separable,
    accepts="image",
    rules=(
        initializer_ranks(depthwise_initializer=4, pointwise_initializer=4, bias_initializer=1),
        matrix_regularizers(
            depthwise_regularizer=4,
            pointwise_regularizer=4,
            bias_regularizer=1,
            activity_regularizer=4,
        ),
    ),
    build=keras_factory("layers.SeparableConv2D"),
    macs=_separable_macs,
)

# --- depthwise_conv2d ---------------------------------------------------------------------------


def _depthwise(shape: Shape, a: Args) -> tuple[Shape, int]:
    """DepthwiseConv2D: depth_multiplier kernels per input channel."""
    c = channels(shape, 3)
    sizes = sliding(shape, a, 2)
    out = c * a["depth_multiplier"]
    params = prod(axes(a["kernel_size"], 2)) * out + bias(a, out)
    return activated((*sizes, out), a["activation"]), params


def _depthwise_macs(shape: Shape, out: Shape, a: Args) -> int:
    """Every output position and channel: one kernel window."""
    return prod(out) * prod(axes(a["kernel_size"], 2))


DEPTHWISE_CONV2D = Layer(
    name="depthwise_conv2d",
    description="a separate kernel_size convolution for each channel "
    "(depth_multiplier per channel)",
    params=(
        Param("kernel_size", T.Size(2), positional=True),
        Param("strides", T.Size(2), (1, 1)),
        Param("padding", PADDING, "valid", positional=True),
        Param("depth_multiplier", T.Int(min=1), 1, help="output channels per input channel"),
        Param("dilation_rate", T.Size(2), (1, 1)),
        Param("activation", ACT, None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("depthwise_initializer", INIT, "glorot_uniform"),
        Param("bias_initializer", INIT, "zeros"),
        *regularizer_params("depthwise"),
    ),
    infer=_depthwise,
    accepts="image",
    rules=(
        initializer_ranks(depthwise_initializer=4, bias_initializer=1),
        matrix_regularizers(depthwise_regularizer=4, bias_regularizer=1, activity_regularizer=4),
    ),
    build=keras_factory("layers.DepthwiseConv2D"),
    macs=_depthwise_macs,
)

# --- conv2d_transpose ---------------------------------------------------------------------------


def _transpose_length(
    n: int | None, k: int, s: int, d: int, padding: str, extra: int | None
) -> int | None:
    """One spatial output size of a transposed convolution (Keras's TensorFlow-padding rule)."""
    if n is None:
        return None
    k = (k - 1) * d + 1
    if padding == "valid":
        return (n - 1) * s + k + (max(k, s) - k if extra is None else extra)
    return n * s if extra is None else (n - 1) * s + k % 2 + extra


def _conv_transpose(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Conv2DTranspose: the gradient of a convolution; grows the image by about ``strides``."""
    c = channels(shape, 3)
    k, s, d = axes(a["kernel_size"], 2), axes(a["strides"], 2), axes(a["dilation_rate"], 2)
    if max(s) > 1 and max(d) > 1:
        raise ShapeProblem(
            "`strides` > 1 cannot be combined with `dilation_rate` > 1",
            "dilation_rate",
            help="use strides 1 with dilation, or no dilation",
        )
    extra = None if a["output_padding"] is None else axes(a["output_padding"], 2)
    if extra is not None and any(e >= st for e, st in zip(extra, s)):
        raise ShapeProblem(
            f"`output_padding` {dims(extra)} must be smaller than `strides` {dims(s)}",
            "output_padding",
            help="use an output_padding below the strides, or none",
        )
    sizes = tuple(
        _transpose_length(
            shape[i], k[i], s[i], d[i], a["padding"], None if extra is None else extra[i]
        )
        for i in range(2)
    )
    f = a["filters"]
    return activated((*sizes, f), a["activation"]), prod(k) * c * f + bias(a, f)


def _transpose_macs(shape: Shape, out: Shape, a: Args) -> int:
    """Every input position spreads a kernel for each filter over every input channel."""
    return int(prod(shape[:-1]) * prod(axes(a["kernel_size"], 2)) * shape[-1] * a["filters"])


CONV2D_TRANSPOSE = Layer(
    name="conv2d_transpose",
    description='transposed 2D convolution ("deconvolution"): upsamples by strides',
    params=(
        Param("filters", T.Int(min=1), positional=True, help="number of output channels"),
        Param("kernel_size", T.Size(2), positional=True),
        Param("strides", T.Size(2), (1, 1)),
        Param("padding", PADDING, "valid", positional=True),
        Param("output_padding", T.Size(2, min=0), None, help="extra rows/columns (< strides)"),
        Param("dilation_rate", T.Size(2), (1, 1)),
        Param("activation", ACT, None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("kernel_initializer", INIT, "glorot_uniform"),
        Param("bias_initializer", INIT, "zeros"),
        *regularizer_params(),
    ),
    infer=_conv_transpose,
    accepts="image",
    rules=_conv_rules(2),
    build=keras_factory("layers.Conv2DTranspose"),
    macs=_transpose_macs,
)

LAYERS = (CONV1D, CONV2D, SEPARABLE_CONV2D, DEPTHWISE_CONV2D, CONV2D_TRANSPOSE)


@hookimpl
def register_layers(register: Any) -> None:
    """The convolution layers."""
    for layer in LAYERS:
        register(layer)
