"""Built-in preprocessing layers: Keras's, in the language, saved inside the model.

Images: ``rescaling``, ``resizing``, ``center_crop`` and the augmentations ``random_flip``,
``random_rotation``, ``random_zoom``, ``random_translation``, ``random_contrast`` (Keras runs
these while training only; at inference they pass the image through). Numbers: ``normalization`` with a given mean and variance (``normalize: true`` is the
one adapted on the training data), ``discretization`` into bins, ``category_encoding`` of
integer ids and ``hashing``. The string layers (``StringLookup``, ``TextVectorization``) are
built for a typed table's columns (:mod:`netdsl.keras.features`), whose inputs are strings.

Each layer's shape rule, multiply-accumulate count and declaration sit together; a test builds
every one in Keras and compares shapes and parameter counts.
"""

from __future__ import annotations

from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, ShapeProblem, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.rules import SEED_MAX
from netdsl_builtins.shapes import Args, dims, no_macs, per_value, require_rank

_FACTOR = T.Float(min=0, max=1)
_FILL = T.Choice(("reflect", "wrap", "constant", "nearest"))
_INTERPOLATION = T.Choice(("bilinear", "nearest"))
_SEED = Param("seed", T.Int(min=0, max=SEED_MAX), None)
_ENCODED = T.Choice(("int", "one_hot", "multi_hot", "count"))


def _same(shape: Shape, a: Args) -> tuple[Shape, int]:
    """A layer that keeps its input's shape and has no weights."""
    return shape, 0


def _image_same(shape: Shape, a: Args) -> tuple[Shape, int]:
    require_rank(shape, 3)
    return shape, 0


def _resized(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Resizing / CenterCrop: height x width of ``size``, the channels kept."""
    require_rank(shape, 3)
    height, width = a["size"]
    return (height, width, shape[-1]), 0


def _sized(path: str) -> Any:
    """A build taking ``size`` (height x width) as Keras's two arguments."""

    def build(size: tuple[int, int], **kwargs: Any) -> Any:
        return keras_factory(path)(height=size[0], width=size[1], **kwargs)

    build.__qualname__ = f"sized({path!r})"  # no keras_path: Keras takes height and width
    return build


def _encoded(shape: Shape, tokens: int, mode: str) -> Shape:
    """The output of an encoding layer of ``tokens`` values: ids keep the shape; one-hot adds an
    axis (a last axis of 1 is replaced); multi-hot and counts give one vector per example."""
    if mode == "int":
        return shape
    if mode == "one_hot":
        return (*shape[:-1], tokens) if shape[-1] == 1 else (*shape, tokens)
    if len(shape) > 1:
        raise ShapeProblem(
            f"`{mode}` encodes a vector of ids, not an input of shape {dims(shape)}",
            "output_mode",
            help="flatten first, or use output_mode=one_hot",
        )
    return (tokens,)


def _category_encoding(shape: Shape, a: Args) -> tuple[Shape, int]:
    if a["num_tokens"] is None:
        raise ShapeProblem("category_encoding needs num_tokens", "num_tokens")
    mode = a["output_mode"]
    if mode == "int":
        raise ShapeProblem("category_encoding does not output ids", "output_mode")
    return _encoded(shape, a["num_tokens"], mode), 0


def _discretization(shape: Shape, a: Args) -> tuple[Shape, int]:
    if a["bin_boundaries"] is None:
        raise ShapeProblem("discretization needs its bin_boundaries", "bin_boundaries")
    bins = list(a["bin_boundaries"])
    if bins != sorted(bins):
        raise ShapeProblem("bin_boundaries must be in increasing order", "bin_boundaries")
    return _encoded(shape, len(bins) + 1, a["output_mode"]), 0


def _hashing(shape: Shape, a: Args) -> tuple[Shape, int]:
    return _encoded(shape, a["num_bins"], a["output_mode"]), 0


def _normalization(shape: Shape, a: Args) -> tuple[Shape, int]:
    for name in ("mean", "variance"):
        if a[name] is None:
            raise ShapeProblem(
                f"normalization needs its {name} (netdsl adapts only `normalize: true`)",
                name,
                help="give both: `normalization 0.5 0.25`, or set `normalize: true`",
            )
    return shape, 0


RESCALING = Layer(
    name="rescaling",
    description="multiply by `scale` and add `offset` (1/255 maps pixels to [0, 1])",
    params=(
        Param("scale", T.Float(), positional=True),
        Param("offset", T.Float(), 0.0),
    ),
    infer=_same,
    build=keras_factory("layers.Rescaling"),
    macs=per_value,
)

RESIZING = Layer(
    name="resizing",
    description="resize images to height x width (`resizing 64x64`)",
    params=(
        Param("size", T.Size(rank=2), positional=True, help="height x width"),
        Param("interpolation", _INTERPOLATION, "bilinear"),
        Param("crop_to_aspect_ratio", T.Bool(), False),
    ),
    infer=_resized,
    accepts="image",
    build=_sized("layers.Resizing"),
    macs=no_macs,
)

CENTER_CROP = Layer(
    name="center_crop",
    description="crop the centre height x width of images (`center_crop 56x56`)",
    params=(Param("size", T.Size(rank=2), positional=True, help="height x width"),),
    infer=_resized,
    accepts="image",
    build=_sized("layers.CenterCrop"),
    macs=no_macs,
)


def _augmentation(name: str, keras: str, description: str, *params: Param) -> Layer:
    """An image augmentation: Keras's ``layers.<keras>`` (run while training only), the image's
    shape kept, no weights, its ``params`` then ``seed``."""
    return Layer(
        name=name,
        description=description,
        params=(*params, _SEED),
        infer=_image_same,
        accepts="image",
        build=keras_factory(f"layers.{keras}"),
        macs=no_macs,
    )


#: the image augmentations: (name, Keras class, description, parameters before ``seed``)
AUGMENTATIONS = tuple(
    _augmentation(*row)
    for row in (
        (
            "random_flip",
            "RandomFlip",
            "flip images at random while training",
            Param(
                "mode",
                T.Choice(("horizontal", "vertical", "horizontal_and_vertical")),
                "horizontal_and_vertical",
                positional=True,
            ),
        ),
        (
            "random_rotation",
            "RandomRotation",
            "rotate images at random by up to `factor` of a full turn while training",
            Param("factor", _FACTOR, positional=True, help="0.1: up to 36 degrees either way"),
            Param("fill_mode", _FILL, "reflect"),
            Param("interpolation", _INTERPOLATION, "bilinear"),
        ),
        (
            "random_zoom",
            "RandomZoom",
            "zoom images at random by up to `height_factor` while training",
            Param("height_factor", _FACTOR, positional=True),
            Param("width_factor", _FACTOR, None),
            Param("fill_mode", _FILL, "reflect"),
        ),
        (
            "random_translation",
            "RandomTranslation",
            "shift images at random by up to a fraction of their size while training",
            Param("height_factor", _FACTOR, positional=True),
            Param("width_factor", _FACTOR, positional=True),
            Param("fill_mode", _FILL, "reflect"),
        ),
        (
            "random_contrast",
            "RandomContrast",
            "change image contrast at random by up to `factor` while training",
            Param("factor", _FACTOR, positional=True),
        ),
    )
)

RANDOM_FLIP, RANDOM_ROTATION, RANDOM_ZOOM, RANDOM_TRANSLATION, RANDOM_CONTRAST = AUGMENTATIONS

NORMALIZATION = Layer(
    name="normalization",
    description="subtract `mean` and divide by the square root of `variance` (given; "
    "`normalize: true` adapts one on the training data)",
    params=(
        Param("mean", T.Float(), None, positional=True),
        Param("variance", T.Float(min=0, min_open=True), None, positional=True),
    ),
    infer=_normalization,
    build=keras_factory("layers.Normalization"),
    macs=per_value,
)

DISCRETIZATION = Layer(
    name="discretization",
    description="bucket numbers by `bin_boundaries` into ids 0..n (or their one-hot encoding)",
    params=(
        Param("bin_boundaries", T.ListOf(T.Float()), None, positional=True),
        Param("output_mode", _ENCODED, "int"),
    ),
    infer=_discretization,
    build=keras_factory("layers.Discretization"),
    macs=no_macs,
)

CATEGORY_ENCODING = Layer(
    name="category_encoding",
    description="encode integer ids below `num_tokens` as one-hot, multi-hot or count vectors",
    params=(
        Param("num_tokens", T.Int(min=1, max=10_000_000), None, positional=True),
        Param("output_mode", _ENCODED, "multi_hot"),
    ),
    infer=_category_encoding,
    build=keras_factory("layers.CategoryEncoding"),
    macs=no_macs,
)

HASHING = Layer(
    name="hashing",
    description="hash integer or string ids into `num_bins` bins (ids, or their encoding)",
    params=(
        Param("num_bins", T.Int(min=1, max=10_000_000), positional=True),
        Param("output_mode", _ENCODED, "int"),
        Param("salt", T.Int(min=0), None),
    ),
    infer=_hashing,
    build=keras_factory("layers.Hashing"),
    macs=no_macs,
)

LAYERS = (
    RESCALING,
    RESIZING,
    CENTER_CROP,
    *AUGMENTATIONS,
    NORMALIZATION,
    DISCRETIZATION,
    CATEGORY_ENCODING,
    HASHING,
)


@hookimpl
def register_layers(register: Any) -> None:
    """The preprocessing layers."""
    for layer in LAYERS:
        register(layer)
