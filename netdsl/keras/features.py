"""Typed table columns as Keras preprocessing inside the model (see :mod:`netdsl.vocab.columns`).

Each column of the plan becomes a named model input taking the raw value (numbers as float32,
NaN for a missing cell; everything else as a string, missing as the empty string) and its
default encoder, built from Keras's own preprocessing layers:

* number: ``Normalization``; a missing value becomes 0 after it (the training mean), plus a
  0/1 missing indicator when the sample showed missing cells;
* category, binary: ``StringLookup`` one-hot (values past the vocabulary, and values unseen in
  training, in the out-of-vocabulary bucket; missing is its own value, ``""``), or
  ``StringLookup`` then ``Embedding`` for many values, or ``Hashing`` then ``Embedding``;
* text: ``TextVectorization`` then ``Embedding`` (padding masked) and ``GlobalAveragePooling1D``.

Their outputs are concatenated into the feature vector the network starts from. The layers
are built with empty state; :func:`adapt` fills in what one pass over the training split
learned (means, variances, vocabularies), so the saved model holds all of it and ``predict``
takes raw rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..vocab.columns import Column
from ..vocab.components import DEFAULT_INPUT
from .runtime import import_keras

__all__ = [
    "adapt",
    "encode",
    "encode_columns",
    "graph_columns",
    "input_name",
    "layer_name",
]


def layer_name(column: Column, part: str) -> str:
    """A Keras layer name for one part of a column's encoder (any header text is allowed)."""
    plain = re.sub(r"[^A-Za-z0-9_]+", "_", column.name).strip("_") or "column"
    return f"col{column.index}_{plain}_{part}"[:100]


def _number(keras: Any, column: Column, x: Any) -> Any:
    norm = keras.layers.Normalization(axis=-1, name=layer_name(column, "norm"))
    ops = keras.ops
    z = norm(x)
    z = ops.where(ops.isnan(z), ops.zeros_like(z), z)  # missing: the training mean
    if not column.indicator:
        return z
    return keras.layers.Concatenate(name=layer_name(column, "with_missing"))(
        [z, ops.cast(ops.isnan(x), "float32")]
    )


def _lookup(keras: Any, column: Column, x: Any) -> Any:
    if column.encoder == "one_hot":
        layer = keras.layers.StringLookup(
            max_tokens=column.tokens,
            pad_to_max_tokens=True,
            output_mode="one_hot",
            name=layer_name(column, "lookup"),
        )
        return keras.ops.reshape(layer(x), (-1, column.tokens))
    if column.encoder == "hash":
        ids = keras.layers.Hashing(num_bins=column.tokens, name=layer_name(column, "hash"))(x)
    else:
        ids = keras.layers.StringLookup(
            max_tokens=column.tokens, name=layer_name(column, "lookup")
        )(x)
    vectors = keras.layers.Embedding(column.tokens, column.dim, name=layer_name(column, "embed"))(
        ids
    )
    return keras.layers.Flatten(name=layer_name(column, "flat"))(vectors)


def _text(keras: Any, column: Column, x: Any) -> Any:
    words = keras.layers.TextVectorization(
        max_tokens=column.tokens,
        output_sequence_length=column.length,
        name=layer_name(column, "words"),
    )(keras.ops.reshape(x, (-1,)))
    vectors = keras.layers.Embedding(
        column.tokens, column.dim, mask_zero=True, name=layer_name(column, "embed")
    )(words)
    return keras.layers.GlobalAveragePooling1D(name=layer_name(column, "mean"))(vectors)


def input_name(column: Column) -> str:
    """The model input's name: the column's own when Keras takes it as a name, else made one."""
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", column.name) is not None
    return column.name if plain else layer_name(column, "in")


_ENCODERS = {"normalize": _number, "one_hot": _lookup, "embed": _lookup, "hash": _lookup}


def encode_columns(columns: Sequence[Column]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's inputs and each column's encoded tensor, both keyed by the column's name:
    what a program's named inputs start from (``description -> ...``) once they route columns."""
    keras = import_keras()
    inputs: dict[str, Any] = {}
    encoded: dict[str, Any] = {}
    for column in columns:
        x = keras.Input(shape=(1,), dtype=column.input_dtype, name=input_name(column))
        inputs[column.name] = x
        encoded[column.name] = _ENCODERS.get(column.encoder, _text)(keras, column, x)
    return inputs, encoded


def _ids(keras: Any, column: Column, x: Any) -> Any:
    """A routed text column's token ids: ``(length,)`` integers, 0 padding, 1 unknown."""
    return keras.layers.TextVectorization(
        max_tokens=column.tokens,
        output_sequence_length=column.length,
        name=layer_name(column, "words"),
    )(keras.ops.reshape(x, (-1,)))


def graph_columns(
    columns: Sequence[Column], names: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A graph's raw inputs (one per column, by column name) and the tensor each of its
    input ``names`` starts from: a routed column's (text: its token ids), and ``x`` the other
    columns encoded and concatenated (:mod:`netdsl.checking.column_inputs`)."""
    keras = import_keras()
    routed = [c for c in columns if c.name in names and c.name != DEFAULT_INPUT]
    rest = [c for c in columns if c not in routed]
    inputs: dict[str, Any] = {}
    starts: dict[str, Any] = {}
    parts = []
    for column in columns:
        x = keras.Input(shape=(1,), dtype=column.input_dtype, name=input_name(column))
        inputs[column.name] = x
        if column in routed and column.encoder == "text":
            starts[column.name] = _ids(keras, column, x)
            continue
        encoded = _ENCODERS.get(column.encoder, _text)(keras, column, x)
        if column in routed:
            starts[column.name] = encoded
        else:
            parts.append(encoded)
    if rest:
        many = len(parts) > 1
        starts[DEFAULT_INPUT] = (
            keras.layers.Concatenate(name="features")(parts) if many else parts[0]
        )
    return inputs, starts


def encode(columns: Sequence[Column]) -> tuple[dict[str, Any], Any]:
    """The model's inputs, one per column keyed by the column's name, and the concatenated
    encoded feature vector (as wide as the columns' widths summed)."""
    inputs, encoded = encode_columns(columns)
    parts = list(encoded.values())
    if len(parts) == 1:
        return inputs, parts[0]
    return inputs, import_keras().layers.Concatenate(name="features")(parts)


def adapt(net: Any, columns: Sequence[Column], state: Mapping[str, Mapping[str, Any]]) -> None:
    """Give each column's stateful layer what the pass over the training split learned:
    ``{"mean": m, "variance": v}`` for a number, ``{"vocabulary": [...]}`` for a lookup or text
    (most frequent first). A column with no entry keeps Keras's empty state."""
    import numpy as np

    for column in columns:
        learned = state.get(column.name)
        if not learned:
            continue
        if column.encoder == "normalize":
            layer = net.get_layer(layer_name(column, "norm"))
            layer.adapt_mean.assign(np.array([learned["mean"]], "float32"))
            layer.adapt_variance.assign(np.array([learned["variance"]], "float32"))
            layer.count.assign(int(learned.get("count", 1)))
            layer.finalize_state()
        elif column.encoder in ("one_hot", "embed"):
            vocabulary = list(learned["vocabulary"])[: column.tokens - 1] or [""]
            net.get_layer(layer_name(column, "lookup")).set_vocabulary(vocabulary)
        elif column.encoder == "text":
            vocabulary = [w for w in learned["vocabulary"] if w][: column.tokens - 2]
            net.get_layer(layer_name(column, "words")).set_vocabulary(vocabulary or ["[empty]"])
