"""The Keras layers behind the attention plugin (:mod:`netdsl_builtins.attention`).

This module imports Keras, so netdsl imports it only when it builds or loads a model (the
declarations' ``build`` and ``custom_objects``), never when it checks one. ``netdsl emit``
copies each class's source from this file into the program it writes, so keep every class
self-contained: it uses ``keras`` and ``ops`` only.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = [
    "Attention",
    "PositionEmbedding",
    "SinePositionEmbedding",
    "TokenPositionEmbedding",
]


@keras.saving.register_keras_serializable(package="netdsl")
class Attention(keras.layers.MultiHeadAttention):
    """Multi-head attention on a list of tensors: ``[x]`` attends to itself (self-attention),
    ``[query, value]`` or ``[query, value, key]`` is cross-attention. ``key_dim=None`` takes
    the query's width divided by the heads. Padding masks (``mask_zero``) flow through."""

    def __init__(
        self,
        num_heads: Any,
        key_dim: Any = None,
        use_causal_mask: Any = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_heads, key_dim or 1, **kwargs)
        self._given_key_dim = key_dim
        if key_dim is None and kwargs.get("value_dim") is None:
            self._value_dim = None
        self.use_causal_mask = use_causal_mask

    def build(self, input_shape: Any) -> Any:
        nested = isinstance(input_shape[0], (list, tuple))
        shapes = list(input_shape) if nested else [input_shape]
        if self._given_key_dim is None:
            self._key_dim = int(shapes[0][-1]) // self._num_heads
        if self._value_dim is None:
            self._value_dim = self._key_dim
        query = shapes[0]
        value = shapes[1] if len(shapes) > 1 else query
        key = shapes[2] if len(shapes) > 2 else None
        super().build(query, value, key)

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(inputs)
        query = inputs[0]
        value = inputs[1] if len(inputs) > 1 else query
        key = inputs[2] if len(inputs) > 2 else None
        value_mask = masks[1] if len(inputs) > 1 else masks[0]
        key_mask = masks[2] if len(inputs) > 2 else None
        return super().call(
            query,
            value,
            key=key,
            query_mask=masks[0],
            value_mask=value_mask,
            key_mask=key_mask,
            training=training,
            use_causal_mask=self.use_causal_mask,
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        nested = isinstance(input_shape[0], (list, tuple))
        shapes = list(input_shape) if nested else [input_shape]
        query = tuple(shapes[0])
        if self._output_shape:
            return (*query[:-1], *self._output_shape)
        return query

    def compute_output_spec(
        self,
        inputs: Any,
        mask: Any = None,
        training: Any = None,
    ) -> Any:
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        shape = self.compute_output_shape([tuple(x.shape) for x in inputs])
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def get_config(self) -> Any:
        config = super().get_config()
        config["key_dim"] = self._key_dim
        config["use_causal_mask"] = self.use_causal_mask
        return config


@keras.saving.register_keras_serializable(package="netdsl")
class TokenPositionEmbedding(keras.layers.Layer):
    """Token ids to vectors plus a learned vector per position (the Keras "Text classification
    with Transformer" example's ``TokenAndPositionEmbedding``); ``mask_zero`` masks id 0."""

    def __init__(
        self,
        input_dim: Any,
        maxlen: Any,
        output_dim: Any,
        mask_zero: Any = False,
        embeddings_initializer: Any = "uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.maxlen = maxlen
        self.output_dim = output_dim
        self.mask_zero = mask_zero
        self.embeddings_initializer = embeddings_initializer
        self.token_emb = keras.layers.Embedding(
            input_dim, output_dim, embeddings_initializer=embeddings_initializer
        )
        self.pos_emb = keras.layers.Embedding(
            maxlen, output_dim, embeddings_initializer=embeddings_initializer
        )

    def build(self, input_shape: Any) -> Any:
        self.token_emb.build(input_shape)
        self.pos_emb.build((self.maxlen,))

    def call(self, x: Any) -> Any:
        positions = ops.arange(0, ops.shape(x)[-1])
        return self.token_emb(x) + self.pos_emb(positions)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape, self.output_dim)

    def get_config(self) -> Any:
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            maxlen=self.maxlen,
            output_dim=self.output_dim,
            mask_zero=self.mask_zero,
            embeddings_initializer=self.embeddings_initializer,
        )
        return config


@keras.saving.register_keras_serializable(package="netdsl")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector to each position of a sequence (``maxlen`` positions at most)."""

    def __init__(
        self, maxlen: Any = None, initializer: Any = "glorot_uniform", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.maxlen = maxlen
        self.initializer = initializer
        self.supports_masking = True

    def build(self, input_shape: Any) -> Any:
        self.maxlen = self.maxlen or int(input_shape[-2])
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.maxlen, input_shape[-1]),
            initializer=self.initializer,
        )

    def call(self, x: Any) -> Any:
        steps = ops.shape(x)[-2]
        return x + ops.cast(self.position_embeddings[:steps], x.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> Any:
        config = super().get_config()
        config.update(maxlen=self.maxlen, initializer=self.initializer)
        return config


@keras.saving.register_keras_serializable(package="netdsl")
class SinePositionEmbedding(keras.layers.Layer):
    """Adds the fixed sinusoidal position encoding of "Attention is all you need" (sine on
    even features, cosine on odd ones); no weights."""

    def __init__(self, max_wavelength: Any = 10000.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength
        self.supports_masking = True

    def call(self, x: Any) -> Any:
        steps, width = ops.shape(x)[-2], ops.shape(x)[-1]
        positions = ops.cast(ops.arange(steps), "float32")
        features = ops.cast(ops.arange(width), "float32")
        timescales = ops.power(
            ops.cast(self.max_wavelength, "float32"),
            -2.0 * ops.floor(features / 2.0) / width,
        )
        angles = ops.expand_dims(positions, 1) * ops.expand_dims(timescales, 0)
        even = ops.equal(ops.mod(ops.arange(width), 2), 0)
        encoding = ops.where(even, ops.sin(angles), ops.cos(angles))
        return x + ops.cast(encoding, x.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> Any:
        config = super().get_config()
        config.update(max_wavelength=self.max_wavelength)
        return config
