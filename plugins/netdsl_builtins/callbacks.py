"""Built-in training callbacks: Keras's early stopping, learning-rate reduction on a plateau and
EMA weight swapping, with their parameters and Keras's defaults.

A ``monitor`` parameter names a quantity training logs (``val_loss``, ``accuracy``); ``check``
verifies the program logs it (validation data for ``val_*``, the metric for a metric's name).
Not offered: ``ModelCheckpoint``, ``BackupAndRestore``, ``CSVLogger`` and ``TensorBoard`` (every
run folder already has checkpoints, ``history.csv`` and TensorBoard logs), and callbacks that
take Python functions (``LambdaCallback``, ``LearningRateScheduler``: use a schedule).
"""

from __future__ import annotations

from netdsl.vocab import types as T
from netdsl.vocab.components import Callback, Param, keras_factory
from netdsl.vocab.hookspecs import Register, hookimpl

__all__ = ["CALLBACKS", "register_callbacks"]

_MODE = T.Choice(("auto", "min", "max"))
_NON_NEGATIVE = T.Float(min=0)


def _monitor(default: str = "val_loss") -> Param:
    return Param(
        "monitor",
        T.Quantity(),
        default,
        help="the logged quantity to watch, e.g. val_loss or val_accuracy",
    )


#: every built-in callback
CALLBACKS: tuple[Callback, ...] = (
    Callback(
        name="early_stopping",
        build=keras_factory("callbacks.EarlyStopping"),
        description="stop training when a monitored quantity has stopped improving",
        params=(
            _monitor(),
            Param("patience", T.Int(min=0), 0, help="epochs without improvement before stopping"),
            Param(
                "min_delta", _NON_NEGATIVE, 0.0, help="smallest change that counts as improvement"
            ),
            Param(
                "mode", _MODE, "auto", help="whether the quantity should go down (min) or up (max)"
            ),
            Param("baseline", T.Float(), None, help="stop unless the quantity beats this value"),
            Param(
                "restore_best_weights",
                T.Bool(),
                False,
                help="end with the weights of the best epoch instead of the last",
            ),
            Param("start_from_epoch", T.Int(min=0), 0, help="epochs to wait before watching"),
        ),
    ),
    Callback(
        name="reduce_lr_on_plateau",
        build=keras_factory("callbacks.ReduceLROnPlateau"),
        description="multiply the learning rate by `factor` when a quantity stops improving",
        params=(
            _monitor(),
            Param(
                "factor",
                T.Float(min=0, max=1, min_open=True, max_open=True),
                0.1,
                help="new rate = rate x factor",
            ),
            Param("patience", T.Int(min=0), 10, help="epochs without improvement before reducing"),
            Param(
                "mode", _MODE, "auto", help="whether the quantity should go down (min) or up (max)"
            ),
            Param(
                "min_delta", _NON_NEGATIVE, 1e-4, help="smallest change that counts as improvement"
            ),
            Param("cooldown", T.Int(min=0), 0, help="epochs to wait after a reduction"),
            Param("min_lr", _NON_NEGATIVE, 0.0, help="the learning rate never goes below this"),
        ),
        aliases=("reduce_lr",),
        sets_learning_rate=True,
    ),
    Callback(
        name="swap_ema_weights",
        build=keras_factory("callbacks.SwapEMAWeights"),
        description="evaluate with the optimizer's moving average of the weights "
        "(needs an optimizer with use_ema=true)",
        params=(
            Param(
                "swap_on_epoch",
                T.Bool(),
                False,
                help="also swap in the average at each epoch end (for validation)",
            ),
        ),
    ),
)


@hookimpl
def register_callbacks(register: Register) -> None:
    """Register every built-in callback."""
    for callback in CALLBACKS:
        register(callback)
