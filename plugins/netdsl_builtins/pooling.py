"""Built-in pooling and resizing layers: max/average pooling (1D, 2D), global pooling,
upsample2d and zeropad2d.

Each layer's parts sit together: its shape rule (``infer``, agreeing with Keras exactly; see
``tests/test_layers_keras.py``), its multiply-accumulate count and its declaration.
"""

from __future__ import annotations

from math import prod
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import REQUIRED, Adapter, Layer, Param, Shape, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.shapes import PADDING, Args, axes, no_macs, require_rank, sliding

# --- max and average pooling --------------------------------------------------------------------


def _pool(shape: Shape, a: Args, rank: int) -> tuple[Shape, int]:
    """Max or average pooling: the window's summary per channel; strides default to the window."""
    require_rank(shape, rank + 1)
    return (*sliding(shape, a, rank, "pool_size"), shape[-1]), 0


def _pool1d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """MaxPooling1D / AveragePooling1D."""
    return _pool(shape, a, 1)


def _pool2d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """MaxPooling2D / AveragePooling2D."""
    return _pool(shape, a, 2)


def _pool_macs(shape: Shape, out: Shape, a: Args) -> int:
    """Every output value reads its whole window."""
    return prod(out) * prod(axes(a["pool_size"], len(shape) - 1))


def _pool_params(rank: int, default: Any) -> tuple[Param, ...]:
    """The parameters of a max/average pooling layer."""
    return (
        Param(
            "pool_size", T.Size(rank), default, positional=True, help="window size, e.g. 2 or 2x2"
        ),
        Param("strides", T.Size(rank), None, help="step of the window (default: pool_size)"),
        Param("padding", PADDING, "valid", positional=True),
    )


def _pool_layer(
    name: str, alias: str | None, what: str, rank: int, default: Any, path: str
) -> Layer:
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


# --- global pooling -----------------------------------------------------------------------------


def _global(shape: Shape, a: Args, rank: int) -> tuple[Shape, int]:
    """Global pooling: one value per channel (``keepdims`` keeps size-1 spatial axes)."""
    require_rank(shape, rank + 1)
    return ((1,) * rank + (shape[-1],) if a["keepdims"] else (shape[-1],)), 0


def _global1d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """GlobalAveragePooling1D / GlobalMaxPooling1D."""
    return _global(shape, a, 1)


def _global2d(shape: Shape, a: Args) -> tuple[Shape, int]:
    """GlobalAveragePooling2D / GlobalMaxPooling2D."""
    return _global(shape, a, 2)


def _read_all(shape: Shape, out: Shape, a: Args) -> int:
    """Every input value once (global pooling)."""
    return prod(shape)


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
        if what == "average"
        else (),
        build=keras_factory(path),
    )


POOLS = (
    _pool_layer("maxpool1d", None, "maximum", 1, 2, "layers.MaxPooling1D"),
    _pool_layer("maxpool2d", "maxpool", "maximum", 2, (2, 2), "layers.MaxPooling2D"),
    _pool_layer("avgpool1d", None, "average", 1, REQUIRED, "layers.AveragePooling1D"),
    _pool_layer("avgpool2d", "avgpool", "average", 2, REQUIRED, "layers.AveragePooling2D"),
    _global_layer("global_avgpool1d", None, "average", 1, "layers.GlobalAveragePooling1D"),
    _global_layer(
        "global_avgpool2d", "global_avgpool", "average", 2, "layers.GlobalAveragePooling2D"
    ),
    _global_layer("global_maxpool1d", None, "maximum", 1, "layers.GlobalMaxPooling1D"),
    _global_layer("global_maxpool2d", "global_maxpool", "maximum", 2, "layers.GlobalMaxPooling2D"),
)

# --- upsample2d ---------------------------------------------------------------------------------


def _upsample(shape: Shape, a: Args) -> tuple[Shape, int]:
    """UpSampling2D: repeat rows and columns ``size`` times."""
    require_rank(shape, 3)
    s = axes(a["size"], 2)
    return (*(None if n is None else n * k for n, k in zip(shape[:2], s)), shape[2]), 0


UPSAMPLE2D = Layer(
    name="upsample2d",
    description="enlarge an image by repeating (or interpolating) rows and columns size times",
    params=(
        Param("size", T.Size(2), (2, 2), positional=True),
        Param(
            "interpolation",
            T.Choice(("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")),
            "nearest",
            positional=True,
        ),
    ),
    infer=_upsample,
    accepts="image",
    build=keras_factory("layers.UpSampling2D"),
    macs=no_macs,
)

# --- zeropad2d ----------------------------------------------------------------------------------


def _zeropad(shape: Shape, a: Args) -> tuple[Shape, int]:
    """ZeroPadding2D: ``padding`` rows/columns of zeros on each side."""
    require_rank(shape, 3)
    p = axes(a["padding"], 2)
    return (*(None if n is None else n + 2 * k for n, k in zip(shape[:2], p)), shape[2]), 0


ZEROPAD2D = Layer(
    name="zeropad2d",
    description="add padding rows and columns of zeros around an image",
    params=(
        Param(
            "padding",
            T.Size(2, min=0),
            (1, 1),
            positional=True,
            help="rows (and columns) added on each side",
        ),
    ),
    infer=_zeropad,
    accepts="image",
    keeps_values=True,  # zero is an id too
    build=keras_factory("layers.ZeroPadding2D"),
    macs=no_macs,
)

LAYERS = (*POOLS, UPSAMPLE2D, ZEROPAD2D)


@hookimpl
def register_layers(register: Any) -> None:
    """The pooling and resizing layers."""
    for layer in LAYERS:
        register(layer)
