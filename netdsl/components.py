"""What a plugin registers: component declarations with typed parameters.

A declaration says everything the checker needs without TensorFlow (parameters, and for a
layer its shape and parameter-count rule) and how to build the Keras object (``build``, which
imports TensorFlow inside the call, never at module import).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from . import types as T

__all__ = [
    "REQUIRED", "Param", "Ref", "Component", "Activation", "Loss", "Optimizer", "Regularizer",
    "Metric", "Layer", "Dataset", "ShapeProblem", "KINDS", "Shape", "keras_factory",
]

Shape = tuple  # a shape without the batch axis, e.g. (28, 28, 1); None marks an unknown size


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One typed parameter. ``positional`` lets it be filled without ``key=``."""

    name: str
    type: T.ParamType
    default: Any = REQUIRED
    positional: bool = False
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Ref:
    """A bound reference to another component, e.g. ``l2(0.01)`` → Ref('regularizer', 'l2', ...)."""

    kind: str
    name: str
    args: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "args": {k: to_json(v) for k, v in self.args}}


def to_json(value: Any) -> Any:
    """A bound argument value as plain JSON data."""
    if isinstance(value, Ref):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


class ShapeProblem(Exception):
    """Raised by a layer's ``infer`` when the input shape does not fit; ``param`` points the caret."""

    def __init__(self, message: str, param: str | None = None, help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.help = help


@dataclass(frozen=True, kw_only=True)
class Component:
    """Base declaration: a unique lowercase name, aliases, typed params, a description, a factory."""

    kind: ClassVar[str] = "component"
    name: str
    params: tuple[Param, ...] = ()
    description: str = ""
    aliases: tuple[str, ...] = ()
    build: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


@dataclass(frozen=True, kw_only=True)
class Activation(Component):
    """An activation function; ``build()`` returns what Keras accepts as ``activation=``."""

    kind: ClassVar[str] = "activation"


@dataclass(frozen=True, kw_only=True)
class Loss(Component):
    """A loss; ``labels`` says how the data's labels must be encoded for it."""

    kind: ClassVar[str] = "loss"
    labels: str = "any"  # "categorical" (one-hot), "sparse" (integers), "any"


@dataclass(frozen=True, kw_only=True)
class Optimizer(Component):
    kind: ClassVar[str] = "optimizer"


@dataclass(frozen=True, kw_only=True)
class Regularizer(Component):
    kind: ClassVar[str] = "regularizer"


@dataclass(frozen=True, kw_only=True)
class Metric(Component):
    kind: ClassVar[str] = "metric"


@dataclass(frozen=True, kw_only=True)
class Layer(Component):
    """A layer: ``infer(shape, args) -> (output_shape, parameter_count)`` in pure Python.

    ``accepts`` is the input it needs: "vector" (rank 1; images are flattened for it),
    "sequence" (rank 2; a one-channel image is read row by row), "image" (rank 3; a
    rank-2 image gains a channel axis) or "any". A ``merge`` layer takes several inputs and
    its ``infer`` gets a list of shapes. A ``wrapper="layer"`` encloses one layer
    (``bidirectional(lstm 64)``): its ``infer(shape, args, inner, inner_layer)`` gets ``inner``, a
    callable ``shape -> (output_shape, params)`` running the wrapped layer's rule, and
    ``inner_layer``, its declaration. A ``wrapper="chain"`` encloses a sub-network
    (``residual(...)``): its ``infer`` gets ``[input_shape, body_output_shape]``.
    """

    kind: ClassVar[str] = "layer"
    infer: Callable[..., tuple[Shape, int]] = field(compare=False, repr=False)
    accepts: str = "any"
    merge: bool = False
    wrapper: str | None = None  # None, "layer" (wraps one layer) or "chain" (wraps a sub-network)


@dataclass(frozen=True, kw_only=True)
class Dataset(Component):
    """A dataset: its input shape and class count (for checking), and ``load(source)``.

    ``load(source)`` returns ``(x_train, y_train, x_test, y_test)`` NumPy arrays, x scaled to
    floats of ``input_shape`` and y integer class labels; ``source`` is a user-given path or None.
    """

    kind: ClassVar[str] = "dataset"
    input_shape: Shape
    num_classes: int
    load: Callable[[str | None], Sequence[Any]] = field(compare=False, repr=False)


KINDS: Mapping[str, type[Component]] = {
    cls.kind: cls for cls in (Activation, Loss, Optimizer, Regularizer, Metric, Layer, Dataset)
}


def keras_factory(path: str, **fixed: Any) -> Callable[..., Any]:
    """A ``build`` that imports Keras on call and returns ``keras.<path>(**fixed, **kwargs)``."""

    def build(**kwargs: Any) -> Any:
        import keras  # noqa: PLC0415 - TensorFlow/Keras only when a model is built

        obj: Any = keras
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj(**fixed, **kwargs)

    build.__qualname__ = f"keras_factory({path!r})"
    build.keras_path = path  # type: ignore[attr-defined]
    return build
