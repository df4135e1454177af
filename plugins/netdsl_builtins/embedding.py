"""Built-in embedding layer: integer ids to learned vectors.

The layer's shape and parameter-count rule (``infer``, agreeing with Keras exactly; see
``tests/test_layers_keras.py``), its multiply-accumulate count and its declaration sit together.
"""

from __future__ import annotations

from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.layers import INITIALIZERS
from netdsl_builtins.shapes import REG, Args, no_macs


def _embedding(shape: Shape, a: Args) -> tuple[Shape, int]:
    """Embedding: each integer id becomes a learned vector of output_dim numbers."""
    return (*shape, a["output_dim"]), a["input_dim"] * a["output_dim"]


EMBEDDING = Layer(
    name="embedding",
    description="turn integer ids (0 .. input_dim-1) into learned vectors of output_dim numbers",
    params=(
        Param("input_dim", T.Int(min=1), positional=True, help="vocabulary size"),
        Param("output_dim", T.Int(min=1), positional=True, help="size of each vector"),
        Param("embeddings_initializer", T.Choice(("uniform", *INITIALIZERS)), "uniform"),
        Param("embeddings_regularizer", REG, None),
        Param("mask_zero", T.Bool(), False, help="treat id 0 as padding"),
    ),
    infer=_embedding,
    accepts="vector",
    reads_ids="input_dim",
    sparse_gradients=True,
    build=keras_factory("layers.Embedding"),
    macs=no_macs,
)

LAYERS = (EMBEDDING,)


@hookimpl
def register_layers(register: Any) -> None:
    """The embedding layer."""
    for layer in LAYERS:
        register(layer)
