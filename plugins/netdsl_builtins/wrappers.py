"""Built-in layer wrappers: bidirectional and timedistributed (``name(layer)``).

Each wrapper's shape rule (given the wrapped layer's own rule as ``inner``), its
multiply-accumulate count and its declaration sit together. The chain wrapper ``residual`` adds
two values, so it lives with the merges (``merge.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, ShapeProblem, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.shapes import HINT, Args, dims

Inner = Callable[[Shape], tuple[Shape, int]]

# --- bidirectional ------------------------------------------------------------------------------


def _bidirectional(shape: Shape, a: Args, inner: Inner, inner_layer: Layer) -> tuple[Shape, int]:
    """Bidirectional: the wrapped RNN twice (forwards and backwards); concat doubles the
    features."""
    if inner_layer.param("go_backwards") is None:
        raise ShapeProblem(
            f"bidirectional wraps a recurrent layer (lstm, gru, simple_rnn), not "
            f"`{inner_layer.name}`",
            help="e.g. `bidirectional(lstm 64)`",
        )
    if getattr(inner, "args", {}).get("go_backwards"):
        raise ShapeProblem(
            "bidirectional runs the wrapped layer both ways itself, so it cannot be "
            "`go_backwards=true`",
            "go_backwards",
            help="leave out `go_backwards`",
        )
    out, params = inner(shape)
    if a["merge_mode"] == "concat":
        out = (*out[:-1], 2 * out[-1])
    return out, 2 * params


def _bidirectional_macs(shape: Shape, out: Shape, a: Args, inner: Callable[[Shape], int]) -> int:
    """The wrapped layer twice."""
    return 2 * inner(shape)


BIDIRECTIONAL = Layer(
    name="bidirectional",
    description="run a recurrent layer forwards and backwards and merge both: "
    "`bidirectional(lstm 64)`",
    params=(
        Param("merge_mode", T.Choice(("concat", "sum", "mul", "ave")), "concat", positional=True),
    ),
    infer=_bidirectional,
    accepts="sequence",
    wrapper="layer",
    build=keras_factory("layers.Bidirectional"),
    macs=_bidirectional_macs,
)

# --- timedistributed ----------------------------------------------------------------------------


def _timedistributed(shape: Shape, a: Args, inner: Inner, inner_layer: Layer) -> tuple[Shape, int]:
    """TimeDistributed: the wrapped layer applied to every step (shared weights)."""
    if len(shape) < 2:
        raise ShapeProblem(f"expected steps and features, found shape {dims(shape)}", help=HINT[2])
    out, params = inner(tuple(shape[1:]))
    return (shape[0], *out), params


def _timedistributed_macs(shape: Shape, out: Shape, a: Args, inner: Callable[[Shape], int]) -> int:
    """The wrapped layer once per step."""
    return int(shape[0] * inner(tuple(shape[1:])))


def _timedistributed_build(layer: Any, **kwargs: Any) -> Any:
    """``keras.layers.TimeDistributed``, except around a ``Dense``: Keras's TimeDistributed
    unrolls a Python loop over the steps (200 copies of the layer's graph for a 200-step text),
    while a Dense already applies the same weights to the last axis at every step — the same
    values and parameters in one matrix product (as the transformer examples write it)."""
    import keras

    if type(layer) is keras.layers.Dense and not kwargs:
        return layer
    return keras.layers.TimeDistributed(layer=layer, **kwargs)


def _timedistributed_emit(args: Mapping[str, str]) -> str:
    """The Keras code of what the build makes: a wrapped ``Dense`` as itself, any other layer
    inside ``keras.layers.TimeDistributed``."""
    layer = args["layer"]
    rest = [f"{k}={v}" for k, v in args.items() if k != "layer"]
    if layer.startswith("keras.layers.Dense(") and not rest:
        return layer
    return f"keras.layers.TimeDistributed({', '.join([f'layer={layer}', *rest])})"


TIMEDISTRIBUTED = Layer(
    name="timedistributed",
    aliases=("time_distributed",),
    description="apply one layer to every step of a sequence: `timedistributed(dense 64)`",
    infer=_timedistributed,
    accepts="any",
    wrapper="layer",
    build=_timedistributed_build,
    emit=_timedistributed_emit,
    macs=_timedistributed_macs,
)

LAYERS = (BIDIRECTIONAL, TIMEDISTRIBUTED)


@hookimpl
def register_layers(register: Any) -> None:
    """The layer wrappers."""
    for layer in LAYERS:
        register(layer)
