"""Keras Applications backbones as layers: ``resnet50``, ``mobilenet_v2``, ``efficientnet_b0``,
``vgg16`` (``resnet50 pooling=avg -> dense 10 softmax``).

``check`` knows each one's output shape, parameter count and minimum input size from a table
(:data:`BACKBONES`, verified against Keras by ``tests/test_backbones.py``), without TensorFlow.
Weights never come from the internet: ``weights=imagenet`` (the default) is the file Keras
itself would download, found in Keras's cache (``$KERAS_HOME/models``, else
``~/.keras/models``); ``weights="path.h5"`` a file of yours; ``weights=none`` random ones. A
missing file is an error at ``check`` naming where it looked and how to fetch it; a file made
for another network an error when the model is built. Frozen by default (``trainable=true``
to train it too; the ``unfreeze`` callback unfreezes it at an epoch, to fine-tune).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netdsl.errors import NetdslTrainingError
from netdsl.lang import ir
from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, ShapeProblem, Violation
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.shapes import Args, dims


def _ceil_half(n: int) -> int:
    """A stride-2 step that pads as needed ("same", or Keras's ``correct_pad``): ceil(n / 2)."""
    return (n + 1) // 2


def _floor_half(n: int) -> int:
    """A 2x2 max pool without padding (VGG): floor(n / 2)."""
    return n // 2


@dataclass(frozen=True)
class Backbone:
    """One Keras application: its class, its feature channels and weights without the top,
    the weights its ImageNet top adds per class and besides, how each of its five stride-2
    steps shrinks a side, and the file names of its ImageNet weights in Keras's cache."""

    name: str
    keras_class: str
    channels: int
    params: int
    top_per_class: int  # weights of the top per output class (its last layer's kernel + bias)
    top_fixed: int  # weights of the top's other layers (VGG's two 4096 layers)
    halve: Callable[[int], int]
    file: str  # with include_top
    file_notop: str
    min_size: int = 32
    top_size: int = 224


BACKBONES: Mapping[str, Backbone] = {
    b.name: b
    for b in (
        Backbone(
            "resnet50",
            "ResNet50",
            2048,
            23_587_712,
            2048 + 1,
            0,
            _ceil_half,
            "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        Backbone(
            "mobilenet_v2",
            "MobileNetV2",
            1280,
            2_257_984,
            1280 + 1,
            0,
            _ceil_half,
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        ),
        Backbone(
            "efficientnet_b0",
            "EfficientNetB0",
            1280,
            4_049_571,
            1280 + 1,
            0,
            _ceil_half,
            "efficientnetb0.h5",
            "efficientnetb0_notop.h5",
        ),
        Backbone(
            "vgg16",
            "VGG16",
            512,
            14_714_688,
            4096 + 1,
            7 * 7 * 512 * 4096 + 4096 + 4096 * 4096 + 4096,
            _floor_half,
            "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
    )
}


class Weights(T.Str):
    """``imagenet``, ``none`` (bare words or strings) or a weights file's path (a string)."""

    label = "imagenet, none or a weights file (a string)"

    def takes(self, value: ir.Value) -> bool:
        return isinstance(value, (ir.Str, ir.Name))

    def claims(self, name: str, binder: Any) -> bool:
        return name in ("imagenet", "none")

    def names(self, binder: Any) -> list[str]:
        return ["imagenet", "none"]

    def convert(self, value: ir.Value, binder: Any) -> str:
        if isinstance(value, ir.Name) and value.value in ("imagenet", "none"):
            return value.value
        return super().convert(value, binder)


def keras_models_dir() -> Path:
    """Where Keras keeps downloaded application weights: ``$KERAS_HOME/models`` or
    ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".keras") / "models"


def weights_file(backbone: Backbone, weights: str, include_top: bool) -> Path | None:
    """The weights file ``weights`` names (None: random weights), whether or not it exists."""
    if weights == "none":
        return None
    if weights == "imagenet":
        return keras_models_dir() / (backbone.file if include_top else backbone.file_notop)
    return Path(weights).expanduser()


def _weights_rule(backbone: Backbone) -> Callable[[Mapping[str, Any]], Iterable[Violation]]:
    """The weights file must be there (no internet at run time); ImageNet's top has 1000
    classes."""

    def rule(a: Mapping[str, Any]) -> Iterable[Violation]:
        path = weights_file(backbone, a["weights"], a["include_top"])
        if path is not None and not path.is_file():
            yield Violation("weights", *_missing(backbone, a["weights"], a["include_top"], path))
        if a["weights"] == "imagenet" and a["include_top"] and a["classes"] != 1000:
            yield Violation(
                "classes",
                "ImageNet's top has 1000 classes",
                help="leave out `classes`, or use `include_top=false` and your own `dense`",
            )

    rule.__qualname__ = f"weights_rule({backbone.name})"
    return rule


def _missing(backbone: Backbone, weights: str, include_top: bool, path: Path) -> tuple[str, str]:
    """The message and help for a weights file that is not there."""
    if weights != "imagenet":
        return f"no weights file at {path}", "give the path of a .h5 or .weights.h5 file"
    top = "" if include_top else ", include_top=False"
    return (
        f"the ImageNet weights of {backbone.name} are not in Keras's cache: looked for {path} "
        "(there is no internet here to download them)",
        'on a machine with internet run `python -c "import keras; keras.applications.'
        f"{backbone.keras_class}(weights='imagenet'{top})\"`, then copy "
        f"~/.keras/models/{path.name} to {path.parent}/ here (or set KERAS_HOME); or give "
        "`weights=none` for random weights",
    )


def _infer(backbone: Backbone) -> Callable[[Shape, Args], tuple[Shape, int]]:
    def infer(shape: Shape, a: Args) -> tuple[Shape, int]:
        """The backbone's features (or ImageNet classes) for an image of at least min_size."""
        if len(shape) != 3 or shape[-1] != 3:
            raise ShapeProblem(
                f"{backbone.name} takes colour images (height x width x 3), found {dims(shape)}",
                help='give it RGB pictures, e.g. `dataset: images("photos/", size=96x96)`',
            )
        height, width = shape[0], shape[1]
        if a["include_top"]:
            side = backbone.top_size
            if (height, width) != (side, side):
                raise ShapeProblem(
                    f"with include_top its input is {side}x{side}x3, not {dims(shape)}",
                    "include_top",
                    help="resize the pictures to that size, or leave out include_top",
                )
            top = backbone.top_fixed + backbone.top_per_class * a["classes"]
            return (a["classes"],), backbone.params + top
        small = [s for s in (height, width) if s is not None and s < backbone.min_size]
        if small:
            raise ShapeProblem(
                f"{backbone.name} needs images of at least {backbone.min_size}x"
                f"{backbone.min_size}, found {dims(shape)}",
                help=f"resize the pictures to {backbone.min_size}x{backbone.min_size} or more",
            )
        if a["pooling"] != "none":
            return (backbone.channels,), backbone.params
        side_h, side_w = height, width
        for _ in range(5):
            side_h = None if side_h is None else backbone.halve(side_h)
            side_w = None if side_w is None else backbone.halve(side_w)
        return (side_h, side_w, backbone.channels), backbone.params

    return infer


def _build(backbone: Backbone) -> Callable[..., Any]:
    def build(weights: str, include_top: bool, pooling: str, classes: int, trainable: bool) -> Any:
        """The Keras application with its weights loaded from the file the checker found."""
        import keras

        path = weights_file(backbone, weights, include_top)
        make = getattr(keras.applications, backbone.keras_class)
        kwargs = {
            "include_top": include_top,
            "pooling": None if pooling == "none" else pooling,
            "classes": classes,
        }
        try:
            model = make(weights=None if path is None else str(path), **kwargs)
        except ValueError as exc:
            raise NetdslTrainingError(
                f"{path} does not hold weights for {backbone.name}"
                f"{'' if include_top else ' without its top'}: {str(exc).splitlines()[0]}",
                code="NDL315",
                help=f"give the weights file Keras makes for keras.applications."
                f"{backbone.keras_class}(include_top={include_top})",
            ) from None
        model.trainable = trainable
        return model

    return build


def _layer(backbone: Backbone) -> Layer:
    return Layer(
        name=backbone.name,
        description=f"the Keras application {backbone.keras_class} (ImageNet weights from "
        "Keras's cache), frozen unless trainable=true",
        params=(
            Param(
                "weights",
                Weights(),
                "imagenet",
                help="imagenet (Keras's cache), none (random), or a weights file",
            ),
            Param("pooling", T.Choice(("none", "avg", "max")), "none", positional=True),
            Param("include_top", T.Bool(), False, help="keep its ImageNet classifier"),
            Param("classes", T.Int(min=1), 1000, help="classes of the top (include_top)"),
            Param("trainable", T.Bool(), False, help="train its weights too (default: frozen)"),
        ),
        infer=_infer(backbone),
        accepts="image",
        rules=(_weights_rule(backbone),),
        build=_build(backbone),
    )


LAYERS = tuple(_layer(b) for b in BACKBONES.values())


@hookimpl
def register_layers(register: Any) -> None:
    """The Keras Applications backbones."""
    for layer in LAYERS:
        register(layer)
