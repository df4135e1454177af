"""Built-in advanced layers: convolution, pooling, recurrent, wrappers and merges.

Each declaration carries its pure-Python shape and parameter-count rule (``infer``), written to
agree with Keras exactly (``tests/test_layers_keras.py`` compares them), so that ``netdsl check``
and ``summary`` never import TensorFlow. Shapes exclude the batch axis; images are channels-last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import prod
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import (
    REQUIRED,
    Adapter,
    Layer,
    Param,
    Shape,
    ShapeProblem,
    keras_factory,
)
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.layers import INITIALIZERS
from netdsl_builtins.rules import (
    SEED_MAX,
    activated,
    initializer_ranks,
    matrix_regularizers,
    shape_keeping_activations,
)

Args = Mapping[str, Any]
Inner = Callable[[Shape], tuple[Shape, int]]

_WHAT = {1: "a vector", 2: "a sequence (steps x features)",
         3: "an image (height x width x channels)"}
_HINT = {1: "flatten first: `flatten`", 2: "reshape first, e.g. `reshape 28x28`",
         3: "reshape first, e.g. `reshape 28x28x1`"}


# --- helpers ------------------------------------------------------------------------------------

def _dims(shape: Sequence[int | None]) -> str:
    """``28x28x1``-style text for a shape (``?`` for an unknown size)."""
    return "x".join("?" if d is None else str(d) for d in shape)


def _axes(value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """A Keras size argument (one integer, or one per axis) as one integer per axis."""
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def _bias(a: Args, n: int) -> int:
    """The bias parameters of a layer with ``n`` outputs (none without ``use_bias``)."""
    return n if a["use_bias"] else 0


def _rank(shape: Shape, rank: int) -> None:
    """Raise unless the input has ``rank`` axes (1 vector, 2 sequence, 3 image)."""
    if len(shape) != rank:
        raise ShapeProblem(f"expected {_WHAT[rank]}, found shape {_dims(shape)}", help=_HINT[rank])


def _channels(shape: Shape, rank: int) -> int:
    """The (known) last axis of an input of ``rank`` axes."""
    _rank(shape, rank)
    if shape[-1] is None:
        raise ShapeProblem(f"the last axis of {_dims(shape)} must have a known size",
                           help="give the input a fixed number of channels or features")
    return shape[-1]


def _window(sizes: Sequence[int | None], window: tuple[int, ...], strides: tuple[int, ...],
            dilation: tuple[int, ...], padding: str, param: str) -> tuple[int | None, ...]:
    """Output sizes of a sliding window (convolution or pooling) per axis, as Keras computes them."""
    span = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
    out = tuple(None if n is None else (n - k) // s + 1 if padding == "valid" else (n - 1) // s + 1
                for n, k, s in zip(sizes, span, strides))
    if any(o is not None and o <= 0 for o in out):
        dilated = span != window
        what = {"pool_size": "pool"}.get(param, "dilated kernel" if dilated else "kernel")
        fits = all(n is None or n >= k for n, k in zip(sizes, window))
        raise ShapeProblem(
            f"the {what} {_dims(span)} is larger than the input {_dims(sizes)} with `valid` padding",
            "dilation_rate" if dilated and fits else param,
            help=f"use `same` padding, a smaller `{param}`, or downsample less before this layer")
    return out


def _sliding(shape: Shape, a: Args, rank: int, window: str = "kernel_size",
             dilation_ok: bool = True) -> tuple[int | None, ...]:
    """Spatial output sizes of a convolution or pooling of ``rank`` spatial axes."""
    size = _axes(a[window], rank)
    strides = size if a["strides"] is None else _axes(a["strides"], rank)
    dilation = _axes(a.get("dilation_rate", 1), rank)
    if not dilation_ok and max(strides) > 1 and max(dilation) > 1:
        raise ShapeProblem("`strides` > 1 cannot be combined with `dilation_rate` > 1",
                           "dilation_rate", help="use strides 1 with dilation, or no dilation")
    return _window(shape[:-1], size, strides, dilation, a["padding"], window)


def _same_shape(shapes: Sequence[Shape]) -> Shape | None:
    """The common shape of several (unknown sizes match anything), or None if they differ."""
    first = shapes[0]
    if any(len(s) != len(first) for s in shapes):
        return None
    out = []
    for dims in zip(*shapes):
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            return None
        out.append(None if None in dims else dims[0])
    return tuple(out)


# --- convolution --------------------------------------------------------------------------------

def _conv(shape: Shape, a: Args, rank: int) -> tuple[Shape, int]:
    """``conv1d``/``conv2d``: filters outputs per position, a kernel over every input channel."""
    c = _channels(shape, rank + 1)
    sizes = _sliding(shape, a, rank, dilation_ok=False)
    f = a["filters"]
    return activated((*sizes, f), a["activation"]), prod(_axes(a["kernel_size"], rank)) * c * f + _bias(a, f)


def _conv1d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Conv1D over a sequence (steps x channels)."""
    return _conv(shape, a, 1)


def _conv2d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Conv2D over an image (height x width x channels)."""
    return _conv(shape, a, 2)


def _separable(shape: Shape, a: Args) -> tuple[Shape, int]:
    """SeparableConv2D: a depthwise kernel per channel, then a 1x1 pointwise kernel, then bias."""
    c = _channels(shape, 3)
    sizes = _sliding(shape, a, 2)
    f, m = a["filters"], a["depth_multiplier"]
    depthwise = prod(_axes(a["kernel_size"], 2)) * c * m
    return activated((*sizes, f), a["activation"]), depthwise + c * m * f + _bias(a, f)


def _depthwise(shape: Shape, a: Args) -> tuple[Shape, int]:
    """DepthwiseConv2D: depth_multiplier kernels per input channel."""
    c = _channels(shape, 3)
    sizes = _sliding(shape, a, 2)
    out = c * a["depth_multiplier"]
    return activated((*sizes, out), a["activation"]), prod(_axes(a["kernel_size"], 2)) * out + _bias(a, out)


def _transpose_length(n: int | None, k: int, s: int, d: int, padding: str,
                      extra: int | None) -> int | None:
    """One spatial output size of a transposed convolution (Keras's TensorFlow-padding rule)."""
    if n is None:
        return None
    k = (k - 1) * d + 1
    if padding == "valid":
        return (n - 1) * s + k + (max(k, s) - k if extra is None else extra)
    return n * s if extra is None else (n - 1) * s + k % 2 + extra


def _conv_transpose(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Conv2DTranspose: the gradient of a convolution; grows the image by about ``strides``."""
    c = _channels(shape, 3)
    k, s, d = _axes(a["kernel_size"], 2), _axes(a["strides"], 2), _axes(a["dilation_rate"], 2)
    if max(s) > 1 and max(d) > 1:
        raise ShapeProblem("`strides` > 1 cannot be combined with `dilation_rate` > 1",
                           "dilation_rate", help="use strides 1 with dilation, or no dilation")
    extra = None if a["output_padding"] is None else _axes(a["output_padding"], 2)
    if extra is not None and any(e >= st for e, st in zip(extra, s)):
        raise ShapeProblem(f"`output_padding` {_dims(extra)} must be smaller than `strides` {_dims(s)}",
                           "output_padding", help="use an output_padding below the strides, or none")
    sizes = tuple(_transpose_length(shape[i], k[i], s[i], d[i], a["padding"],
                                    None if extra is None else extra[i]) for i in range(2))
    f = a["filters"]
    return activated((*sizes, f), a["activation"]), prod(k) * c * f + _bias(a, f)


# --- pooling and resizing -----------------------------------------------------------------------

def _pool(shape: Shape, a: Args, rank: int) -> tuple[Shape, int]:
    """Max or average pooling: the window's summary per channel; strides default to the window."""
    _rank(shape, rank + 1)
    return (*_sliding(shape, a, rank, "pool_size"), shape[-1]), 0


def _pool1d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """MaxPooling1D / AveragePooling1D."""
    return _pool(shape, a, 1)


def _pool2d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """MaxPooling2D / AveragePooling2D."""
    return _pool(shape, a, 2)


def _global(shape: Shape, a: Args, rank: int) -> tuple[Shape, int]:
    """Global pooling: one value per channel (``keepdims`` keeps size-1 spatial axes)."""
    _rank(shape, rank + 1)
    return ((1,) * rank + (shape[-1],) if a["keepdims"] else (shape[-1],)), 0


def _global1d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """GlobalAveragePooling1D / GlobalMaxPooling1D."""
    return _global(shape, a, 1)


def _global2d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """GlobalAveragePooling2D / GlobalMaxPooling2D."""
    return _global(shape, a, 2)


def _upsample(shape: Shape, a: Args) -> tuple[Shape, int]:
    """UpSampling2D: repeat rows and columns ``size`` times."""
    _rank(shape, 3)
    s = _axes(a["size"], 2)
    return (*(None if n is None else n * k for n, k in zip(shape[:2], s)), shape[2]), 0


def _zeropad(shape: Shape, a: Args) -> tuple[Shape, int]:
    """ZeroPadding2D: ``padding`` rows/columns of zeros on each side."""
    _rank(shape, 3)
    p = _axes(a["padding"], 2)
    return (*(None if n is None else n + 2 * k for n, k in zip(shape[:2], p)), shape[2]), 0


def _spatial_dropout(shape: Shape, a: Args) -> tuple[Shape, int]:
    """SpatialDropout2D: drops whole channels of an image."""
    _rank(shape, 3)
    return shape, 0


def _same(shape: Shape, a: Args) -> tuple[Shape, int]:
    """A layer that keeps its input's shape and has no weights."""
    return shape, 0


# --- normalisation and embedding ----------------------------------------------------------------

def _layernorm(shape: Shape, a: Args) -> tuple[Shape, int]:
    """LayerNormalization: gamma and beta per feature of ``axis`` (which counts the batch axis)."""
    axis, full = a["axis"], len(shape) + 1
    if not -full <= axis < full or axis % full == 0:
        raise ShapeProblem(f"axis {axis} is not a feature axis of an input of shape {_dims(shape)}",
                           "axis", help="-1 (the last axis) normalises each position's features")
    n = shape[axis % full - 1]
    if n is None:
        raise ShapeProblem(f"axis {axis} of {_dims(shape)} must have a known size", "axis",
                           help="normalise an axis of known size, e.g. the last (`axis=-1`)")
    return shape, n * (int(a["center"]) + int(a["scale"]))


def _embedding(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Embedding: each integer id becomes a learned vector of output_dim numbers."""
    return (*shape, a["output_dim"]), a["input_dim"] * a["output_dim"]


# --- recurrent ----------------------------------------------------------------------------------

def _recurrent(shape: Shape, a: Args, gates: int, biases: int = 1) -> tuple[Shape, int]:
    """An RNN over steps x features: ``gates`` kernels, recurrent kernels and bias vectors."""
    features = _channels(shape, 2)
    u = a["units"]
    params = gates * u * (features + u + (biases if a["use_bias"] else 0))
    return ((shape[0], u) if a["return_sequences"] else (u,)), params


def _simple_rnn(shape: Shape, a: Args) -> tuple[Shape, int]:
    """SimpleRNN: one kernel, one recurrent kernel, one bias."""
    return _recurrent(shape, a, 1)


def _lstm(shape: Shape, a: Args) -> tuple[Shape, int]:
    """LSTM: four gates."""
    return _recurrent(shape, a, 4)


def _gru(shape: Shape, a: Args) -> tuple[Shape, int]:
    """GRU: three gates; ``reset_after`` (the Keras default) has two bias vectors."""
    return _recurrent(shape, a, 3, 2 if a["reset_after"] else 1)


# --- wrappers -----------------------------------------------------------------------------------

def _bidirectional(shape: Shape, a: Args, inner: Inner, inner_layer: Layer) -> tuple[Shape, int]:
    """Bidirectional: the wrapped RNN twice (forwards and backwards); concat doubles the features."""
    if inner_layer.param("go_backwards") is None:
        raise ShapeProblem(f"bidirectional wraps a recurrent layer (lstm, gru, simple_rnn), not "
                           f"`{inner_layer.name}`", help="e.g. `bidirectional(lstm 64)`")
    if getattr(inner, "args", {}).get("go_backwards"):
        raise ShapeProblem("bidirectional runs the wrapped layer both ways itself, so it cannot be "
                           "`go_backwards=true`", "go_backwards", help="leave out `go_backwards`")
    out, params = inner(shape)
    if a["merge_mode"] == "concat":
        out = (*out[:-1], 2 * out[-1])
    return out, 2 * params


def _timedistributed(shape: Shape, a: Args, inner: Inner, inner_layer: Layer) -> tuple[Shape, int]:
    """TimeDistributed: the wrapped layer applied to every step (shared weights)."""
    if len(shape) < 2:
        raise ShapeProblem(f"expected steps and features, found shape {_dims(shape)}", help=_HINT[2])
    out, params = inner(tuple(shape[1:]))
    return (shape[0], *out), params


def _residual(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Residual: the block's input added to its body's output (which must keep the shape)."""
    x, y = shapes
    out = _same_shape([x, y])
    if out is None:
        raise ShapeProblem(
            f"the body changes the shape from {_dims(x)} to {_dims(y)}, so the input cannot be added",
            help=_residual_help(x))
    return out, 0


def _residual_help(x: Shape) -> str:
    """How to make a residual body keep its input's shape."""
    n = x[-1]
    if len(x) == 3:
        return (f"keep {n} channels and the size: use `same` padding and stride 1, and end the body "
                f"with {n} filters or a projection such as `conv2d {n} 1`")
    if len(x) == 1:
        return f"keep {n} features: end the body with `dense {n}`"
    return f"end the body with a layer that gives {_dims(x)}"


# --- merges -------------------------------------------------------------------------------------

def _elementwise(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Add, multiply, average, maximum, minimum: inputs of one shape, combined value by value."""
    out = _same_shape(shapes)
    if out is None:
        raise ShapeProblem(
            "the branches give different shapes: " + ", ".join(_dims(s) for s in shapes),
            help="end every branch with the same shape (same filters or units, `same` padding)")
    return out, 0


def _subtract(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Subtract: exactly two inputs of one shape, the first minus the second."""
    if len(shapes) != 2:
        raise ShapeProblem(f"subtract takes exactly 2 branches, found {len(shapes)}",
                           help="write `[a | b] subtract`")
    return _elementwise(shapes, a)


def _concat(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Concatenate along ``axis`` (counting the batch axis, like Keras); other axes must agree."""
    rank, axis = len(shapes[0]), a["axis"]
    if any(len(s) != rank for s in shapes):
        raise ShapeProblem("the branches have different ranks: " + ", ".join(_dims(s) for s in shapes),
                           help="flatten or reshape the branches to the same rank")
    if not -(rank + 1) <= axis <= rank or axis % (rank + 1) == 0:
        raise ShapeProblem(f"axis {axis} is not an axis of {_dims(shapes[0])} to join along", "axis",
                           help="axis counts the batch axis as 0; -1 (the channels) is the usual choice")
    i = axis % (rank + 1) - 1
    rest = _same_shape([s[:i] + s[i + 1:] for s in shapes])
    if rest is None:
        raise ShapeProblem(
            "the branches must agree on every axis but the joined one: "
            + ", ".join(_dims(s) for s in shapes),
            help="give the branches `same` padding and equal strides so their sizes agree")
    total = None if any(s[i] is None for s in shapes) else sum(s[i] for s in shapes)
    return (*rest[:i], total, *rest[i:]), 0


# --- multiply-accumulates per example (``netdsl summary --flops``) -------------------------------
# A layer's main arithmetic for one example: matrix products and convolutions, every element of
# a pooling window, one per value for a merge or normalisation. Activations are not counted.

def _conv_macs(shape: Shape, out: Shape, a: Args) -> int:
    """Every output position: a kernel over every input channel, for each filter."""
    rank = len(shape) - 1
    return prod(out[:-1]) * prod(_axes(a["kernel_size"], rank)) * shape[-1] * a["filters"]


def _depthwise_macs(shape: Shape, out: Shape, a: Args) -> int:
    """Every output position and channel: one kernel window."""
    return prod(out) * prod(_axes(a["kernel_size"], 2))


def _separable_macs(shape: Shape, out: Shape, a: Args) -> int:
    """The depthwise windows, then a 1x1 convolution of the depthwise channels."""
    channels = shape[-1] * a["depth_multiplier"]
    return prod(out[:-1]) * channels * (prod(_axes(a["kernel_size"], 2)) + a["filters"])


def _transpose_macs(shape: Shape, out: Shape, a: Args) -> int:
    """Every input position spreads a kernel for each filter over every input channel."""
    return prod(shape[:-1]) * prod(_axes(a["kernel_size"], 2)) * shape[-1] * a["filters"]


def _pool_macs(shape: Shape, out: Shape, a: Args) -> int:
    """Every output value reads its whole window."""
    return prod(out) * prod(_axes(a["pool_size"], len(shape) - 1))


def _read_all(shape: Shape, out: Shape, a: Args) -> int:
    """Every input value once (global pooling)."""
    return prod(shape)


def _per_value(shape: Shape, out: Shape, a: Args) -> int:
    """One multiply-add per output value (a normalisation, or the add of a residual block)."""
    return prod(out)


def _no_macs(shape: Any, out: Shape, a: Args) -> int:
    """Copies, pads, looks up or masks values: no arithmetic."""
    return 0


def _recurrent_macs(gates: int) -> Callable[[Shape, Shape, Args], int]:
    """Every step: each gate's kernel over the features and recurrent kernel over the state."""

    def macs(shape: Shape, out: Shape, a: Args) -> int:
        u = a["units"]
        return shape[0] * gates * u * (shape[1] + u)

    return macs


def _bidirectional_macs(shape: Shape, out: Shape, a: Args, inner: Callable[[Shape], int]) -> int:
    """The wrapped layer twice."""
    return 2 * inner(shape)


def _timedistributed_macs(shape: Shape, out: Shape, a: Args, inner: Callable[[Shape], int]) -> int:
    """The wrapped layer once per step."""
    return shape[0] * inner(tuple(shape[1:]))


def _merge_macs(shapes: Sequence[Shape], out: Shape, a: Args) -> int:
    """Combining n inputs value by value: n - 1 operations per output value."""
    return (len(shapes) - 1) * prod(out)


# --- declarations -------------------------------------------------------------------------------

_REG = T.Ref("regularizer")
_ACT = T.Ref("activation")
_INIT = T.Choice(INITIALIZERS)
_PADDING = T.Choice(("valid", "same"))
_RATE = T.Float(min=0, max=1, max_open=True)


def _regularizers(kernel: str = "kernel") -> tuple[Param, ...]:
    """The kernel (positional), bias and activity regularizers."""
    return (Param(f"{kernel}_regularizer", _REG, None, positional=True),
            Param("bias_regularizer", _REG, None), Param("activity_regularizer", _REG, None))


def _conv_params(rank: int, padding: T.Choice = _PADDING) -> tuple[Param, ...]:
    """The parameters of Conv1D/Conv2D, in Keras's order."""
    one = 1 if rank == 1 else (1,) * rank
    return (
        Param("filters", T.Int(min=1), positional=True, help="number of output channels"),
        Param("kernel_size", T.Size(rank), positional=True, help="window size, e.g. 3 or 3x3"),
        Param("strides", T.Size(rank), one),
        Param("padding", padding, "valid", positional=True, help="`valid` shrinks, `same` keeps size"),
        Param("dilation_rate", T.Size(rank), one),
        Param("activation", _ACT, None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("kernel_initializer", _INIT, "glorot_uniform"),
        Param("bias_initializer", _INIT, "zeros"),
        *_regularizers(),
    )


def _conv_rules(rank: int) -> tuple[Any, ...]:
    """What Keras refuses in a convolution's arguments: weights of rank+2 dimensions."""
    return (initializer_ranks(kernel_initializer=rank + 2, bias_initializer=1),
            matrix_regularizers(kernel_regularizer=rank + 2, bias_regularizer=1,
                                activity_regularizer=rank + 2))


def _rnn_activity(a: Mapping[str, Any]) -> Any:
    """The activity regularizer sees every step (3-D) with return_sequences, else the last (2-D)."""
    return matrix_regularizers(activity_regularizer=3 if a["return_sequences"] else 2)(a)


_RNN_RULES = (initializer_ranks(kernel_initializer=2, recurrent_initializer=2, bias_initializer=1),
              matrix_regularizers(bias_regularizer=1), _rnn_activity,
              shape_keeping_activations("activation", "recurrent_activation"))


def _pool_params(rank: int, default: Any) -> tuple[Param, ...]:
    """The parameters of a max/average pooling layer."""
    return (
        Param("pool_size", T.Size(rank), default, positional=True, help="window size, e.g. 2 or 2x2"),
        Param("strides", T.Size(rank), None, help="step of the window (default: pool_size)"),
        Param("padding", _PADDING, "valid", positional=True),
    )


def _rnn_params(*extra: Param) -> tuple[Param, ...]:
    """The parameters every recurrent layer shares, with ``extra`` ones after the initializers."""
    return (
        Param("units", T.Int(min=1), positional=True, help="size of the hidden state"),
        Param("activation", _ACT, "tanh", positional=True),
        *[p for p in extra if p.name == "recurrent_activation"],
        Param("use_bias", T.Bool(), True),
        Param("kernel_initializer", _INIT, "glorot_uniform"),
        Param("recurrent_initializer", _INIT, "orthogonal"),
        Param("bias_initializer", _INIT, "zeros"),
        *[p for p in extra if p.name != "recurrent_activation"],
        Param("kernel_regularizer", _REG, None, positional=True),
        Param("recurrent_regularizer", _REG, None),
        Param("bias_regularizer", _REG, None),
        Param("activity_regularizer", _REG, None),
        Param("dropout", _RATE, 0.0, help="dropout on the inputs"),
        Param("recurrent_dropout", _RATE, 0.0, help="dropout on the recurrent state"),
        Param("seed", T.Int(min=0, max=SEED_MAX), None),
        Param("return_sequences", T.Bool(), False, help="output every step, not just the last"),
        Param("go_backwards", T.Bool(), False),
    )


def _global_layer(name: str, alias: str | None, what: str, rank: int, path: str) -> Layer:
    """A global pooling declaration."""
    return Layer(
        name=name,
        aliases=(alias,) if alias else (),
        description=f"the {what} of each channel over all {'steps' if rank == 1 else 'positions'}",
        params=(Param("keepdims", T.Bool(), False),),
        infer=_global1d if rank == 1 else _global2d,
        keeps_values=what == "maximum",  # the largest of some input values is one of them
        macs=_read_all,
        accepts="sequence" if rank == 1 else "image",
        # suggested (never inserted) to end a sequence or an image where a vector is needed
        adapters=(Adapter("vector", lambda s: {} if len(s) == rank + 1 else None, implicit=False),)
        if what == "average" else (),
        build=keras_factory(path),
    )


def _pool_layer(name: str, alias: str | None, what: str, rank: int, default: Any, path: str) -> Layer:
    """A max/average pooling declaration."""
    return Layer(
        name=name,
        aliases=(alias,) if alias else (),
        description=f"the {what} of each pool_size window per channel (shrinks by strides)",
        params=_pool_params(rank, default),
        infer=_pool1d if rank == 1 else _pool2d,
        keeps_values=what == "maximum",
        macs=_pool_macs,
        accepts="sequence" if rank == 1 else "image",
        build=keras_factory(path),
    )


def _merge_layer(name: str, what: str, path: str, infer: Callable[..., tuple[Shape, int]] = _elementwise,
                 params: tuple[Param, ...] = (), aliases: tuple[str, ...] = (), default: bool = False) -> Layer:
    """A merge declaration (``[a | b] name``)."""
    return Layer(name=name, aliases=aliases, description=what, params=params, infer=infer,
                 macs=_no_macs if infer is _concat else _merge_macs, merge=True,
                 keeps_values=infer is _concat or name in ("maximum", "minimum"),
                 default_merge=default, build=keras_factory(path))


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

SEPARABLE_CONV2D = Layer(
    name="separable_conv2d",
    description="depthwise then pointwise (1x1) convolution: a cheaper conv2d",
    params=(
        Param("filters", T.Int(min=1), positional=True, help="number of output channels"),
        Param("kernel_size", T.Size(2), positional=True),
        Param("strides", T.Size(2), (1, 1)),
        Param("padding", _PADDING, "valid", positional=True),
        Param("dilation_rate", T.Size(2), (1, 1)),
        Param("depth_multiplier", T.Int(min=1), 1, help="depthwise channels per input channel"),
        Param("activation", _ACT, None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("depthwise_initializer", _INIT, "glorot_uniform"),
        Param("pointwise_initializer", _INIT, "glorot_uniform"),
        Param("bias_initializer", _INIT, "zeros"),
        Param("depthwise_regularizer", _REG, None),
        Param("pointwise_regularizer", _REG, None),
        Param("bias_regularizer", _REG, None),
        Param("activity_regularizer", _REG, None),
    ),
    infer=_separable,
    accepts="image",
    rules=(initializer_ranks(depthwise_initializer=4, pointwise_initializer=4, bias_initializer=1),
           matrix_regularizers(depthwise_regularizer=4, pointwise_regularizer=4, bias_regularizer=1,
                               activity_regularizer=4)),
    build=keras_factory("layers.SeparableConv2D"),
    macs=_separable_macs,
)

DEPTHWISE_CONV2D = Layer(
    name="depthwise_conv2d",
    description="a separate kernel_size convolution for each channel (depth_multiplier per channel)",
    params=(
        Param("kernel_size", T.Size(2), positional=True),
        Param("strides", T.Size(2), (1, 1)),
        Param("padding", _PADDING, "valid", positional=True),
        Param("depth_multiplier", T.Int(min=1), 1, help="output channels per input channel"),
        Param("dilation_rate", T.Size(2), (1, 1)),
        Param("activation", _ACT, None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("depthwise_initializer", _INIT, "glorot_uniform"),
        Param("bias_initializer", _INIT, "zeros"),
        *_regularizers("depthwise"),
    ),
    infer=_depthwise,
    accepts="image",
    rules=(initializer_ranks(depthwise_initializer=4, bias_initializer=1),
           matrix_regularizers(depthwise_regularizer=4, bias_regularizer=1, activity_regularizer=4)),
    build=keras_factory("layers.DepthwiseConv2D"),
    macs=_depthwise_macs,
)

CONV2D_TRANSPOSE = Layer(
    name="conv2d_transpose",
    description="transposed 2D convolution (\"deconvolution\"): upsamples by strides",
    params=(
        Param("filters", T.Int(min=1), positional=True, help="number of output channels"),
        Param("kernel_size", T.Size(2), positional=True),
        Param("strides", T.Size(2), (1, 1)),
        Param("padding", _PADDING, "valid", positional=True),
        Param("output_padding", T.Size(2, min=0), None, help="extra rows/columns (< strides)"),
        Param("dilation_rate", T.Size(2), (1, 1)),
        Param("activation", _ACT, None, positional=True),
        Param("use_bias", T.Bool(), True),
        Param("kernel_initializer", _INIT, "glorot_uniform"),
        Param("bias_initializer", _INIT, "zeros"),
        *_regularizers(),
    ),
    infer=_conv_transpose,
    accepts="image",
    rules=_conv_rules(2),
    build=keras_factory("layers.Conv2DTranspose"),
    macs=_transpose_macs,
)

POOLS = (
    _pool_layer("maxpool1d", None, "maximum", 1, 2, "layers.MaxPooling1D"),
    _pool_layer("maxpool2d", "maxpool", "maximum", 2, (2, 2), "layers.MaxPooling2D"),
    _pool_layer("avgpool1d", None, "average", 1, REQUIRED, "layers.AveragePooling1D"),
    _pool_layer("avgpool2d", "avgpool", "average", 2, REQUIRED, "layers.AveragePooling2D"),
    _global_layer("global_avgpool1d", None, "average", 1, "layers.GlobalAveragePooling1D"),
    _global_layer("global_avgpool2d", "global_avgpool", "average", 2, "layers.GlobalAveragePooling2D"),
    _global_layer("global_maxpool1d", None, "maximum", 1, "layers.GlobalMaxPooling1D"),
    _global_layer("global_maxpool2d", "global_maxpool", "maximum", 2, "layers.GlobalMaxPooling2D"),
)

UPSAMPLE2D = Layer(
    name="upsample2d",
    description="enlarge an image by repeating (or interpolating) rows and columns size times",
    params=(
        Param("size", T.Size(2), (2, 2), positional=True),
        Param("interpolation", T.Choice(("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")),
              "nearest", positional=True),
    ),
    infer=_upsample,
    accepts="image",
    build=keras_factory("layers.UpSampling2D"),
    macs=_no_macs,
)

ZEROPAD2D = Layer(
    name="zeropad2d",
    description="add padding rows and columns of zeros around an image",
    params=(Param("padding", T.Size(2, min=0), (1, 1), positional=True,
                  help="rows (and columns) added on each side"),),
    infer=_zeropad,
    accepts="image",
    keeps_values=True,  # zero is an id too
    build=keras_factory("layers.ZeroPadding2D"),
    macs=_no_macs,
)

LAYERNORM = Layer(
    name="layernorm",
    aliases=("layer_normalization",),
    description="normalise each example's features (2 parameters per feature)",
    params=(
        Param("axis", T.Int(), -1),
        Param("epsilon", T.Float(min=0, min_open=True), 0.001),
        Param("center", T.Bool(), True),
        Param("scale", T.Bool(), True),
    ),
    infer=_layernorm,
    build=keras_factory("layers.LayerNormalization"),
    macs=_per_value,
)

EMBEDDING = Layer(
    name="embedding",
    description="turn integer ids (0 .. input_dim-1) into learned vectors of output_dim numbers",
    params=(
        Param("input_dim", T.Int(min=1), positional=True, help="vocabulary size"),
        Param("output_dim", T.Int(min=1), positional=True, help="size of each vector"),
        Param("embeddings_initializer", T.Choice(("uniform", *INITIALIZERS)), "uniform"),
        Param("embeddings_regularizer", _REG, None),
        Param("mask_zero", T.Bool(), False, help="treat id 0 as padding"),
    ),
    infer=_embedding,
    accepts="vector",
    reads_ids="input_dim",
    sparse_gradients=True,
    build=keras_factory("layers.Embedding"),
    macs=_no_macs,
)

_RECURRENT_ACTIVATION = Param("recurrent_activation", _ACT, "sigmoid")

SIMPLE_RNN = Layer(
    name="simple_rnn",
    description="fully connected recurrent layer over steps (the last step's output by default)",
    params=_rnn_params(),
    infer=_simple_rnn,
    accepts="sequence",
    rules=_RNN_RULES,
    build=keras_factory("layers.SimpleRNN"),
    macs=_recurrent_macs(1),
)

LSTM = Layer(
    name="lstm",
    description="long short-term memory over steps (the last step's output by default)",
    params=_rnn_params(_RECURRENT_ACTIVATION, Param("unit_forget_bias", T.Bool(), True)),
    infer=_lstm,
    accepts="sequence",
    rules=_RNN_RULES,
    build=keras_factory("layers.LSTM"),
    macs=_recurrent_macs(4),
)

GRU = Layer(
    name="gru",
    description="gated recurrent unit over steps (the last step's output by default)",
    params=(*_rnn_params(_RECURRENT_ACTIVATION), Param("reset_after", T.Bool(), True)),
    infer=_gru,
    accepts="sequence",
    rules=_RNN_RULES,
    build=keras_factory("layers.GRU"),
    macs=_recurrent_macs(3),
)

BIDIRECTIONAL = Layer(
    name="bidirectional",
    description="run a recurrent layer forwards and backwards and merge both: `bidirectional(lstm 64)`",
    params=(Param("merge_mode", T.Choice(("concat", "sum", "mul", "ave")), "concat", positional=True),),
    infer=_bidirectional,
    accepts="sequence",
    wrapper="layer",
    build=keras_factory("layers.Bidirectional"),
    macs=_bidirectional_macs,
)

TIMEDISTRIBUTED = Layer(
    name="timedistributed",
    aliases=("time_distributed",),
    description="apply one layer to every step of a sequence: `timedistributed(dense 64)`",
    infer=_timedistributed,
    accepts="any",
    wrapper="layer",
    build=keras_factory("layers.TimeDistributed"),
    macs=_timedistributed_macs,
)

GAUSSIAN_NOISE = Layer(
    name="gaussian_noise",
    description="add zero-mean noise of standard deviation stddev while training",
    params=(Param("stddev", T.Float(min=0, max=1), positional=True, help="Keras takes 0 to 1"),
            Param("seed", T.Int(min=0, max=SEED_MAX), None)),
    infer=_same,
    build=keras_factory("layers.GaussianNoise"),
    macs=_no_macs,
)

SPATIAL_DROPOUT2D = Layer(
    name="spatial_dropout2d",
    description="randomly drop a fraction `rate` of whole channels while training",
    params=(Param("rate", _RATE, positional=True), Param("seed", T.Int(min=0, max=SEED_MAX), None)),
    infer=_spatial_dropout,
    accepts="image",
    build=keras_factory("layers.SpatialDropout2D"),
    macs=_no_macs,
)

RESIDUAL = Layer(
    name="residual",
    description="add a block's input to its output: `residual(conv2d 32 3 relu same -> conv2d 32 3 same)`",
    infer=_residual,
    wrapper="chain",
    build=keras_factory("layers.Add"),
    macs=_per_value,
)

MERGES = (
    _merge_layer("add", "add the branches value by value", "layers.Add"),
    _merge_layer("subtract", "subtract the second branch from the first", "layers.Subtract", _subtract),
    _merge_layer("multiply", "multiply the branches value by value", "layers.Multiply"),
    _merge_layer("average", "average the branches value by value", "layers.Average"),
    _merge_layer("maximum", "the largest of the branches, value by value", "layers.Maximum"),
    _merge_layer("minimum", "the smallest of the branches, value by value", "layers.Minimum"),
    _merge_layer("concat", "join the branches along axis (the channels by default); the merge of "
                 "branches written without one", "layers.Concatenate", _concat,
                 (Param("axis", T.Int(), -1),), ("concatenate",), default=True),
)

ADVANCED = (
    CONV1D, CONV2D, SEPARABLE_CONV2D, DEPTHWISE_CONV2D, CONV2D_TRANSPOSE, *POOLS, UPSAMPLE2D,
    ZEROPAD2D, LAYERNORM, EMBEDDING, SIMPLE_RNN, LSTM, GRU, BIDIRECTIONAL, TIMEDISTRIBUTED,
    GAUSSIAN_NOISE, SPATIAL_DROPOUT2D, RESIDUAL, *MERGES,
)


@hookimpl
def register_layers(register: Any) -> None:
    """Convolution, pooling, recurrent, wrapper and merge layers."""
    for layer in ADVANCED:
        register(layer)
