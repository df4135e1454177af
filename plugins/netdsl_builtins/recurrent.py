"""Built-in recurrent layers: simple_rnn, lstm and gru.

Their shared parts (shape and parameter-count rule, multiply-accumulate count, parameters, rules)
come first, then each declaration; the rules agree with Keras exactly (see
``tests/test_layers_keras.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Shape, keras_factory
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.rules import (
    SEED_MAX,
    initializer_ranks,
    matrix_regularizers,
    shape_keeping_activations,
)
from netdsl_builtins.shapes import ACT, INIT, RATE, REG, Args, channels


def _recurrent(shape: Shape, a: Args, gates: int, biases: int = 1) -> tuple[Shape, int]:
    """An RNN over steps x features: ``gates`` kernels, recurrent kernels and bias vectors."""
    features = channels(shape, 2)
    u = a["units"]
    params = gates * u * (features + u + (biases if a["use_bias"] else 0))
    return ((shape[0], u) if a["return_sequences"] else (u,)), params


def _simple_rnn(shape: Shape, a: Args) -> tuple[Shape, int]:
    """SimpleRNN: one kernel, one recurrent kernel, one bias."""
    return _recurrent(shape, a, 1)


def _lstm(shape: Shape, a: Args) -> tuple[Shape, int]:
    """LSTM: four gates."""
    return _recurrent(shape, a, 4)


def _gru(shape: Shape, a: Args) -> tuple[Shape, int]:
    """GRU: three gates; ``reset_after`` (the Keras default) has two bias vectors."""
    return _recurrent(shape, a, 3, 2 if a["reset_after"] else 1)


def _recurrent_macs(gates: int) -> Callable[[Shape, Shape, Args], int]:
    """Every step: each gate's kernel over the features and recurrent kernel over the state."""

    def macs(shape: Shape, out: Shape, a: Args) -> int:
        u = a["units"]
        return int(shape[0] * gates * u * (shape[1] + u))

    return macs


def _rnn_activity(a: Mapping[str, Any]) -> Any:
    """The activity regularizer sees every step (3-D) with return_sequences, else the last (2-D)."""
    return matrix_regularizers(activity_regularizer=3 if a["return_sequences"] else 2)(a)


_RNN_RULES = (
    initializer_ranks(kernel_initializer=2, recurrent_initializer=2, bias_initializer=1),
    matrix_regularizers(bias_regularizer=1),
    _rnn_activity,
    shape_keeping_activations("activation", "recurrent_activation"),
)


def _rnn_params(*extra: Param) -> tuple[Param, ...]:
    """The parameters every recurrent layer shares, with ``extra`` ones after the initializers."""
    return (
        Param("units", T.Int(min=1), positional=True, help="size of the hidden state"),
        Param("activation", ACT, "tanh", positional=True),
        *[p for p in extra if p.name == "recurrent_activation"],
        Param("use_bias", T.Bool(), True),
        Param("kernel_initializer", INIT, "glorot_uniform"),
        Param("recurrent_initializer", INIT, "orthogonal"),
        Param("bias_initializer", INIT, "zeros"),
        *[p for p in extra if p.name != "recurrent_activation"],
        Param("kernel_regularizer", REG, None, positional=True),
        Param("recurrent_regularizer", REG, None),
        Param("bias_regularizer", REG, None),
        Param("activity_regularizer", REG, None),
        Param("dropout", RATE, 0.0, help="dropout on the inputs"),
        Param("recurrent_dropout", RATE, 0.0, help="dropout on the recurrent state"),
        Param("seed", T.Int(min=0, max=SEED_MAX), None),
        Param("return_sequences", T.Bool(), False, help="output every step, not just the last"),
        Param("go_backwards", T.Bool(), False),
    )


_RECURRENT_ACTIVATION = Param("recurrent_activation", ACT, "sigmoid")

SIMPLE_RNN = Layer(
    name="simple_rnn",
    description="fully connected recurrent layer over steps (the last step's output by default)",
    params=_rnn_params(),
    infer=_simple_rnn,
    accepts="sequence",
    rules=_RNN_RULES,
    build=keras_factory("layers.SimpleRNN"),
    macs=_recurrent_macs(1),
)

LSTM = Layer(
    name="lstm",
    description="long short-term memory over steps (the last step's output by default)",
    params=_rnn_params(_RECURRENT_ACTIVATION, Param("unit_forget_bias", T.Bool(), True)),
    infer=_lstm,
    accepts="sequence",
    rules=_RNN_RULES,
    build=keras_factory("layers.LSTM"),
    macs=_recurrent_macs(4),
)

GRU = Layer(
    name="gru",
    description="gated recurrent unit over steps (the last step's output by default)",
    params=(*_rnn_params(_RECURRENT_ACTIVATION), Param("reset_after", T.Bool(), True)),
    infer=_gru,
    accepts="sequence",
    rules=_RNN_RULES,
    build=keras_factory("layers.GRU"),
    macs=_recurrent_macs(3),
)

LAYERS = (SIMPLE_RNN, LSTM, GRU)


@hookimpl
def register_layers(register: Any) -> None:
    """The recurrent layers."""
    for layer in LAYERS:
        register(layer)
