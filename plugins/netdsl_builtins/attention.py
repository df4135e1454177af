"""Built-in attention layers: multi-head attention (self-attention in a chain, cross-attention
as a merge ``[q | kv] attention 4 32``) and the position embeddings a transformer needs.

Each layer's shape and parameter-count rule (agreeing with Keras exactly; see
``tests/test_attention.py``), its multiply-accumulate count and its declaration sit together.
The Keras classes live in :mod:`netdsl_builtins.attention_layers`, imported only to build.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from functools import cache
from math import prod
from pathlib import Path
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Code, Layer, Param, Shape, ShapeProblem
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.layers import INITIALIZERS
from netdsl_builtins.shapes import INIT, RATE, REG, Args, dims, no_macs, per_value

_CLASSES = "netdsl_builtins.attention_layers"

# --- multi-head attention -----------------------------------------------------------------------


def _shapes(shape: Shape | Sequence[Shape]) -> list[Shape]:
    """The inputs: one shape (self-attention, in a chain) or a merge's list of 2 or 3."""
    if isinstance(shape, list):
        return list(shape)
    return [tuple(shape)]


def _attention(shape: Shape | Sequence[Shape], a: Args) -> tuple[Shape, int]:
    """MultiHeadAttention: query, key and value projections to heads x key_dim (value_dim) and
    an output projection back to the query's width (or ``output_shape``)."""
    shapes = _shapes(shape)
    if len(shapes) > 3:
        raise ShapeProblem(
            f"attention takes 2 or 3 branches (query, value[, key]), found {len(shapes)}",
            help="write `[query | value] attention 4 32` or `[query | value | key] attention 4 32`",
        )
    query = shapes[0]
    value = shapes[1] if len(shapes) > 1 else query
    key = shapes[2] if len(shapes) > 2 else value
    for role, s in (("query", query), ("value", value), ("key", key)):
        _sequence(role, s, len(shapes) > 1)
    if len({len(query), len(value), len(key)}) > 1:
        raise ShapeProblem(
            f"the query, value and key have different ranks: {dims(query)}, {dims(value)}, "
            f"{dims(key)}",
            help="give every branch steps x features",
        )
    if key[:-1] != value[:-1] and None not in (*key[:-1], *value[:-1]):
        raise ShapeProblem(
            f"the key has {dims(key[:-1])} steps and the value {dims(value[:-1])}: "
            "each value needs its key",
            help="give the key and value branches the same number of steps",
        )
    width, heads = query[-1], a["num_heads"]
    key_dim = a["key_dim"]
    if key_dim is None:
        if width % heads:
            raise ShapeProblem(
                f"{heads} heads do not divide the query's {width} features",
                "num_heads",
                help=f"use a number of heads that divides {width}, or give key_dim "
                f"(e.g. `attention {heads} {max(1, width // heads)}`)",
            )
        key_dim = width // heads
    value_dim = a["value_dim"] or key_dim
    out = a["output_shape"] or width
    bias = 1 if a["use_bias"] else 0
    params = (
        heads * key_dim * (query[-1] + bias)
        + heads * key_dim * (key[-1] + bias)
        + heads * value_dim * (value[-1] + bias)
        + out * (heads * value_dim + bias)
    )
    return (*query[:-1], out), params


def _sequence(role: str, shape: Shape, merged: bool) -> None:
    """Attention needs steps x features (or more axes), of known width."""
    what = f"the {role}" if merged else "its input"
    if len(shape) < 2:
        raise ShapeProblem(
            f"{what} is {dims(shape)}, a vector: attention needs steps x features",
            help="attend over a sequence, e.g. after `embedding` or `reshape 28x28`",
        )
    if shape[-1] is None:
        raise ShapeProblem(f"{what} must have a known number of features, not {dims(shape)}")


def _attention_macs(shape: Shape | Sequence[Shape], out: Shape, a: Args) -> int:
    """The projections at every step, and the scores and weighted sums over every pair."""
    shapes = _shapes(shape)
    query = shapes[0]
    value = shapes[1] if len(shapes) > 1 else query
    key = shapes[2] if len(shapes) > 2 else value
    heads = a["num_heads"]
    key_dim = a["key_dim"] or query[-1] // heads
    value_dim = a["value_dim"] or key_dim
    tq, tk = prod(query[:-1]), prod(value[:-1])
    projections = heads * (
        tq * query[-1] * key_dim + tk * key[-1] * key_dim + tk * value[-1] * value_dim
    )
    return int(
        projections + heads * tq * tk * (key_dim + value_dim) + tq * out[-1] * heads * value_dim
    )


def _own_class(name: str) -> dict[str, Any]:
    """A layer's ``build``, ``emit`` and ``custom_objects`` for its class ``name`` in
    attention_layers.py: built from there (Keras imported on first use), written into an
    emitted program, and registered for loading a saved model."""

    def build(**kw: Any) -> Any:
        return _keras(name)(**kw)

    def emit(args: Mapping[str, str]) -> Code:
        return _emit(name, args)

    build.__qualname__ = f"attention_layers.{name}"
    return {"build": build, "emit": emit, "custom_objects": (f"{_CLASSES}:{name}",)}


ATTENTION = Layer(
    name="attention",
    aliases=("multi_head_attention",),
    description="multi-head attention: a sequence attends to itself, or `[q | kv] attention` "
    "the query to the value",
    params=(
        Param("num_heads", T.Int(min=1), positional=True, help="number of attention heads"),
        Param(
            "key_dim",
            T.Int(min=1),
            None,
            positional=True,
            help="size of each head (default: the query's width / heads)",
        ),
        Param("value_dim", T.Int(min=1), None, help="size of each value head (default key_dim)"),
        Param("dropout", RATE, 0.0, help="dropout on the attention weights"),
        Param("use_bias", T.Bool(), True),
        Param("output_shape", T.Int(min=1), None, help="output width (default: the query's)"),
        Param("use_causal_mask", T.Bool(), False, help="each step sees only earlier steps"),
        Param("kernel_initializer", INIT, "glorot_uniform"),
        Param("bias_initializer", INIT, "zeros"),
        Param("kernel_regularizer", REG, None),
        Param("bias_regularizer", REG, None),
    ),
    infer=_attention,
    merge=True,
    alone=True,
    **_own_class("Attention"),
    macs=_attention_macs,
)

# --- position embeddings ------------------------------------------------------------------------


def _token_position(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Token ids (steps) to vectors, plus a learned vector per position (maxlen of them)."""
    if len(shape) != 1:
        raise ShapeProblem(
            f"expected a sequence of token ids (steps), found {dims(shape)}",
            help="feed the ids straight from the data (e.g. an npz of maxlen ids per example)",
        )
    steps = shape[0]
    if steps is not None and steps > a["maxlen"]:
        raise ShapeProblem(
            f"the input has {steps} steps, more than maxlen {a['maxlen']}",
            "maxlen",
            help=f"use maxlen >= {steps}",
        )
    return (steps, a["output_dim"]), (a["input_dim"] + a["maxlen"]) * a["output_dim"]


def _position(shape: Shape, a: Args) -> tuple[Shape, int]:
    """A learned vector per position added to a sequence: maxlen x features weights."""
    _steps_and_features(shape)
    maxlen = a["maxlen"] if a["maxlen"] is not None else shape[-2]
    if maxlen is None:
        raise ShapeProblem(
            f"the input's steps are unknown ({dims(shape)}): give maxlen",
            "maxlen",
            help="e.g. `position_embedding 200`",
        )
    if shape[-2] is not None and shape[-2] > maxlen:
        raise ShapeProblem(
            f"the input has {shape[-2]} steps, more than maxlen {maxlen}",
            "maxlen",
            help=f"use maxlen >= {shape[-2]}",
        )
    return shape, maxlen * shape[-1]


def _sine_position(shape: Shape, a: Args) -> tuple[Shape, int]:
    """The fixed sinusoidal encoding added to a sequence: no weights."""
    _steps_and_features(shape)
    return shape, 0


def _steps_and_features(shape: Shape) -> None:
    if len(shape) != 2:
        raise ShapeProblem(
            f"expected a sequence (steps x features), found {dims(shape)}",
            help="add position embeddings to a sequence, e.g. after `embedding`",
        )
    if shape[-1] is None:
        raise ShapeProblem(f"the input must have a known number of features, not {dims(shape)}")


TOKEN_POSITION_EMBEDDING = Layer(
    name="token_position_embedding",
    aliases=("token_and_position_embedding",),
    description="token ids to learned vectors plus a learned vector per position",
    params=(
        Param("input_dim", T.Int(min=1), positional=True, help="vocabulary size"),
        Param("maxlen", T.Int(min=1), positional=True, help="most positions"),
        Param("output_dim", T.Int(min=1), positional=True, help="size of each vector"),
        Param("mask_zero", T.Bool(), False, help="treat id 0 as padding (masked downstream)"),
        Param("embeddings_initializer", T.Choice(("uniform", *INITIALIZERS)), "uniform"),
    ),
    infer=_token_position,
    accepts="vector",
    reads_ids="input_dim",
    **_own_class("TokenPositionEmbedding"),
    macs=no_macs,
)

POSITION_EMBEDDING = Layer(
    name="position_embedding",
    description="add a learned vector to each position of a sequence",
    params=(
        Param(
            "maxlen",
            T.Int(min=1),
            None,
            positional=True,
            help="most positions (default: the input's steps)",
        ),
        Param("initializer", INIT, "glorot_uniform"),
    ),
    infer=_position,
    accepts="sequence",
    **_own_class("PositionEmbedding"),
    macs=per_value,
)

SINE_POSITION_EMBEDDING = Layer(
    name="sine_position_embedding",
    description="add the fixed sinusoidal position encoding to a sequence (no weights)",
    params=(Param("max_wavelength", T.Float(min=1), 10000.0, help="the longest wavelength"),),
    infer=_sine_position,
    accepts="sequence",
    **_own_class("SinePositionEmbedding"),
    macs=per_value,
)


LAYERS = (ATTENTION, TOKEN_POSITION_EMBEDDING, POSITION_EMBEDDING, SINE_POSITION_EMBEDDING)

# --- building and emitting ----------------------------------------------------------------------


def _keras(name: str) -> Any:
    """The Keras class ``name`` from attention_layers (importing Keras on first use)."""
    from netdsl_builtins import attention_layers

    return getattr(attention_layers, name)


@cache
def class_source(name: str) -> str:
    """The source of the class ``name`` in attention_layers.py, read without importing it."""
    path = Path(__file__).with_name("attention_layers.py")
    text = path.read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return "\n".join(
                text.splitlines()[node.lineno - 1 - len(node.decorator_list) : node.end_lineno]
            )
    raise LookupError(f"no class {name} in {path}")


def _emit(name: str, args: Mapping[str, str]) -> Code:
    """``Name(k=v, ...)`` with the class written into the program."""
    given = ", ".join(f"{k}={v}" for k, v in args.items())
    return Code(
        f"{name}({given})",
        imports=("from keras import ops", "from typing import Any"),
        definitions=(class_source(name),),
    )


@hookimpl
def register_layers(register: Any) -> None:
    """The attention and position-embedding layers."""
    for layer in LAYERS:
        register(layer)
