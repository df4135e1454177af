"""Built-in merges (``[a | b] add``) and the ``residual`` block, which adds a chain's input to
its output.

Each layer's shape rule (agreeing with Keras exactly; see ``tests/test_layers_keras.py``), its
multiply-accumulate count and its declaration sit together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, ShapeProblem, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.shapes import Args, dims, no_macs, per_value, same_shape

# --- residual -----------------------------------------------------------------------------------


def _residual(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Residual: the block's input added to its body's output (which must keep the shape)."""
    x, y = shapes
    out = same_shape([x, y])
    if out is None:
        raise ShapeProblem(
            f"the body changes the shape from {dims(x)} to {dims(y)}, so the input cannot be added",
            help=_residual_help(x),
        )
    return out, 0


def _residual_help(x: Shape) -> str:
    """How to make a residual body keep its input's shape."""
    n = x[-1]
    if len(x) == 3:
        return (
            f"keep {n} channels and the size: use `same` padding and stride 1, and end the "
            f"body with {n} filters or a projection such as `conv2d {n} 1`"
        )
    if len(x) == 1:
        return f"keep {n} features: end the body with `dense {n}`"
    return f"end the body with a layer that gives {dims(x)}"


RESIDUAL = Layer(
    name="residual",
    description="add a block's input to its output: "
    "`residual(conv2d 32 3 relu same -> conv2d 32 3 same)`",
    infer=_residual,
    wrapper="chain",
    build=keras_factory("layers.Add"),
    macs=per_value,
)

# --- merges -------------------------------------------------------------------------------------


def _elementwise(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Add, multiply, average, maximum, minimum: inputs of one shape, combined value by value."""
    out = same_shape(shapes)
    if out is None:
        raise ShapeProblem(
            "the branches give different shapes: " + ", ".join(dims(s) for s in shapes),
            help="end every branch with the same shape (same filters or units, `same` padding)",
        )
    return out, 0


def _broadcast(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Multiply: inputs of one rank whose sizes agree or are 1 on each axis, as Keras's Multiply
    broadcasts a size-1 axis (squeeze-and-excitation: per-channel scales 1x1xC times an image)."""
    if any(len(s) != len(shapes[0]) for s in shapes):
        raise ShapeProblem(
            "the branches have different ranks: " + ", ".join(dims(s) for s in shapes),
            help="give the branches the same rank (`global_avgpool2d keepdims=true` keeps it)",
        )
    out: list[int | None] = []
    for sizes in zip(*shapes):
        known = {d for d in sizes if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeProblem(
                "the branches give shapes that neither agree nor broadcast: "
                + ", ".join(dims(s) for s in shapes),
                help="end every branch with the same shape, or size 1 on an axis to broadcast",
            )
        out.append(None if None in sizes else (known.pop() if known else 1))
    return tuple(out), 0


def _subtract(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Subtract: exactly two inputs of one shape, the first minus the second."""
    if len(shapes) != 2:
        raise ShapeProblem(
            f"subtract takes exactly 2 branches, found {len(shapes)}",
            help="write `[a | b] subtract`",
        )
    return _elementwise(shapes, a)


def _concat(shapes: Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """Concatenate along ``axis`` (counting the batch axis, like Keras); other axes must agree."""
    rank, axis = len(shapes[0]), a["axis"]
    if any(len(s) != rank for s in shapes):
        raise ShapeProblem(
            "the branches have different ranks: " + ", ".join(dims(s) for s in shapes),
            help="flatten or reshape the branches to the same rank",
        )
    if not -(rank + 1) <= axis <= rank or axis % (rank + 1) == 0:
        raise ShapeProblem(
            f"axis {axis} is not an axis of {dims(shapes[0])} to join along",
            "axis",
            help="axis counts the batch axis as 0; -1 (the channels) is the usual choice",
        )
    i = axis % (rank + 1) - 1
    rest = same_shape([s[:i] + s[i + 1 :] for s in shapes])
    if rest is None:
        raise ShapeProblem(
            "the branches must agree on every axis but the joined one: "
            + ", ".join(dims(s) for s in shapes),
            help="give the branches `same` padding and equal strides so their sizes agree",
        )
    total = None if any(s[i] is None for s in shapes) else sum(s[i] for s in shapes)
    return (*rest[:i], total, *rest[i:]), 0


def _merge_macs(shapes: Sequence[Shape], out: Shape, a: Args) -> int:
    """Combining n inputs value by value: n - 1 operations per output value."""
    return (len(shapes) - 1) * prod(out)


def _merge_layer(
    name: str,
    what: str,
    path: str,
    infer: Callable[..., tuple[Shape, int]] = _elementwise,
    params: tuple[Param, ...] = (),
    aliases: tuple[str, ...] = (),
    default: bool = False,
) -> Layer:
    """A merge declaration (``[a | b] name``)."""
    return Layer(
        name=name,
        aliases=aliases,
        description=what,
        params=params,
        infer=infer,
        macs=no_macs if infer is _concat else _merge_macs,
        merge=True,
        keeps_values=infer is _concat or name in ("maximum", "minimum"),
        default_merge=default,
        build=keras_factory(path),
    )


MERGES = (
    _merge_layer("add", "add the branches value by value", "layers.Add"),
    _merge_layer(
        "subtract", "subtract the second branch from the first", "layers.Subtract", _subtract
    ),
    _merge_layer(
        "multiply",
        "multiply the branches value by value (a size-1 axis broadcasts)",
        "layers.Multiply",
        _broadcast,
    ),
    _merge_layer("average", "average the branches value by value", "layers.Average"),
    _merge_layer("maximum", "the largest of the branches, value by value", "layers.Maximum"),
    _merge_layer("minimum", "the smallest of the branches, value by value", "layers.Minimum"),
    _merge_layer(
        "concat",
        "join the branches along axis (the channels by default); the merge of "
        "branches written without one",
        "layers.Concatenate",
        _concat,
        (Param("axis", T.Int(), -1),),
        ("concatenate",),
        default=True,
    ),
)

LAYERS = (RESIDUAL, *MERGES)


@hookimpl
def register_layers(register: Any) -> None:
    """The residual block and the merges."""
    for layer in LAYERS:
        register(layer)
