"""Built-in optimizers: every Keras 3 optimizer, with its hyperparameters and Keras's defaults.

``build(**kwargs)`` returns the Keras optimizer (``keras.optimizers.Adam(...)``), importing
Keras only when called. The first parameter, ``learning_rate``, is positional: ``adam(0.001)``.
The learning rate is a number or a schedule (:mod:`netdsl_builtins.schedules`). Not declared:
``name``. Not offered:
``LossScaleOptimizer`` and ``MultiOptimizer``, which wrap other optimizer objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Optimizer, Param, Violation, at_most_one, keras_factory
from netdsl.vocab.hookspecs import Register, hookimpl

__all__ = ["OPTIMIZERS", "register_optimizers"]

_POSITIVE = T.Float(min=0, min_open=True)  # a number > 0
_NON_NEGATIVE = T.Float(min=0)  # a number >= 0
_DECAY_RATE = T.Float(min=0, max=1, max_open=True)  # a moving-average rate in [0, 1)


def _learning_rate(default: float = 0.001) -> Param:
    return Param(
        "learning_rate",
        T.OneOf((_POSITIVE, T.Ref("schedule"))),
        default,
        positional=True,
        help="the step size: a number or a schedule, e.g. cosine_decay(1e-3)",
    )


def _beta_1(default: float = 0.9, name: str = "beta_1") -> Param:
    return Param(name, _DECAY_RATE, default, help="decay rate of the first-moment estimate")


def _beta_2(default: float = 0.999, name: str = "beta_2") -> Param:
    return Param(name, _DECAY_RATE, default, help="decay rate of the second-moment estimate")


def _epsilon(default: float = 1e-7) -> Param:
    return Param("epsilon", _POSITIVE, default, help="small constant for numerical stability")


def _weight_decay(default: float | None = None) -> Param:
    return Param(
        "weight_decay",
        _NON_NEGATIVE,
        default,
        help="decoupled weight decay applied to every weight",
    )


def _amsgrad() -> Param:
    return Param("amsgrad", T.Bool(), False, help="use the AMSGrad variant")


def _common() -> tuple[Param, ...]:
    """The options every Keras optimizer takes (besides ``weight_decay``): clipping, EMA, …"""
    return (
        Param("clipnorm", _POSITIVE, None, help="clip each gradient to this norm"),
        Param("clipvalue", _POSITIVE, None, help="clip each gradient element to ±this value"),
        Param(
            "global_clipnorm",
            _POSITIVE,
            None,
            help="clip all gradients together to this global norm",
        ),
        Param("use_ema", T.Bool(), False, help="keep an exponential moving average of the weights"),
        Param(
            "ema_momentum",
            T.Float(min=0, max=1),
            0.99,
            help="momentum of the weights' moving average (with use_ema)",
        ),
        Param(
            "ema_overwrite_frequency",
            T.Int(min=1),
            None,
            help="copy the moving average into the weights every this many steps",
        ),
        Param(
            "loss_scale_factor",
            _POSITIVE,
            None,
            help="multiply the loss by this before computing gradients",
        ),
        Param(
            "gradient_accumulation_steps",
            T.Int(min=2),
            None,
            help="update the weights once every this many batches",
        ),
    )


def _no_loss_scale_with_sparse(args: Mapping[str, Any]) -> Iterator[Violation]:
    """Keras divides every gradient by ``loss_scale_factor``; an embedding's gradient is sparse
    (IndexedSlices) on TensorFlow and cannot be divided (TypeError at the first step)."""
    if args.get("loss_scale_factor") is not None:
        yield Violation(
            "loss_scale_factor",
            "Keras cannot unscale the sparse gradients of a layer "
            "such as `embedding` on TensorFlow",
            help="leave out `loss_scale_factor`",
        )


def _no_sparse(name: str) -> Callable[[Mapping[str, Any]], Iterator[Violation]]:
    """For an optimizer whose update cannot take sparse gradients at all."""

    def rule(args: Mapping[str, Any]) -> Iterator[Violation]:
        yield Violation(
            "",
            f"Keras's {name} cannot update from the sparse gradients of a layer "
            "such as `embedding` on TensorFlow (its update step fails)",
            help="use `adam` or `adamw`, or the jax backend (`backend: jax`)",
        )

    return rule


def _optimizer(
    name: str,
    keras_class: str,
    description: str,
    *params: Param,
    aliases: tuple[str, ...] = (),
    sparse: bool = True,
) -> Optimizer:
    """An optimizer built as ``keras.optimizers.<keras_class>(**kwargs)``; ``sparse=False`` when
    it cannot take sparse gradients at all."""
    return Optimizer(
        name=name,
        params=params,
        description=description,
        aliases=aliases,
        build=keras_factory(f"optimizers.{keras_class}"),
        rules=(at_most_one("clipnorm", "clipvalue", "global_clipnorm"),),
        sparse_rules=(_no_loss_scale_with_sparse,) + (() if sparse else (_no_sparse(name),)),
    )


#: every built-in optimizer
OPTIMIZERS: tuple[Optimizer, ...] = (
    _optimizer(
        "sgd",
        "SGD",
        "stochastic gradient descent, with optional (Nesterov) momentum",
        _learning_rate(0.01),
        Param("momentum", T.Float(min=0, max=1), 0.0, help="velocity kept from the last step"),
        Param("nesterov", T.Bool(), False, help="use Nesterov momentum"),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "adam",
        "Adam",
        "Adam: adaptive moment estimation",
        _learning_rate(),
        _beta_1(),
        _beta_2(),
        _epsilon(),
        _amsgrad(),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "adamw",
        "AdamW",
        "Adam with decoupled weight decay",
        _learning_rate(),
        _weight_decay(0.004),
        _beta_1(),
        _beta_2(),
        _epsilon(),
        _amsgrad(),
        *_common(),
    ),
    _optimizer(
        "nadam",
        "Nadam",
        "Adam with Nesterov momentum",
        _learning_rate(),
        _beta_1(),
        _beta_2(),
        _epsilon(),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "adamax",
        "Adamax",
        "Adam variant scaled by the infinity norm of past gradients",
        _learning_rate(),
        _beta_1(),
        _beta_2(),
        _epsilon(),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "rmsprop",
        "RMSprop",
        "divide the gradient by a moving root-mean-square of past gradients",
        _learning_rate(),
        Param("rho", _DECAY_RATE, 0.9, help="decay rate of the squared-gradient average"),
        Param(
            "momentum",
            T.Float(min=0, max=1, max_open=True),
            0.0,
            help="velocity kept from the last step",
        ),
        _epsilon(),
        Param("centered", T.Bool(), False, help="normalise by the gradient's estimated variance"),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "adagrad",
        "Adagrad",
        "per-parameter learning rates shrinking with accumulated gradients",
        _learning_rate(),
        Param(
            "initial_accumulator_value",
            _NON_NEGATIVE,
            0.1,
            help="starting value of the squared-gradient accumulators",
        ),
        _epsilon(),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "adadelta",
        "Adadelta",
        "Adagrad variant with a moving window of gradient updates",
        _learning_rate(),
        Param("rho", _DECAY_RATE, 0.95, help="decay rate of the moving averages"),
        _epsilon(),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "adafactor",
        "Adafactor",
        "memory-saving Adam variant with factored second moments",
        _learning_rate(),
        Param("beta_2_decay", T.Float(), -0.8, help="decay rate of beta_2"),
        Param("epsilon_1", _POSITIVE, 1e-30, help="offset keeping the denominator away from 0"),
        Param("epsilon_2", _POSITIVE, 1e-3, help="offset keeping the learning rate from vanishing"),
        Param("clip_threshold", _POSITIVE, 1.0, help="threshold of Adafactor's own clipping"),
        Param(
            "relative_step",
            T.Bool(),
            True,
            help="decay a constant learning rate with the step count",
        ),
        _weight_decay(),
        *_common(),
        sparse=False,
    ),
    _optimizer(
        "ftrl",
        "Ftrl",
        "follow-the-regularized-leader, for large sparse feature spaces",
        _learning_rate(),
        Param(
            "learning_rate_power",
            T.Float(max=0),
            -0.5,
            help="how the learning rate falls during training (<= 0)",
        ),
        Param(
            "initial_accumulator_value",
            _NON_NEGATIVE,
            0.1,
            help="starting value of the accumulators",
        ),
        Param("l1_regularization_strength", _NON_NEGATIVE, 0.0, help="L1 regularization"),
        Param("l2_regularization_strength", _NON_NEGATIVE, 0.0, help="L2 regularization"),
        Param(
            "l2_shrinkage_regularization_strength",
            _NON_NEGATIVE,
            0.0,
            help="L2 shrinkage (magnitude penalty) regularization",
        ),
        Param("beta", _NON_NEGATIVE, 0.0, help="the beta of the FTRL paper"),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "lion",
        "Lion",
        "sign-based momentum optimizer (EvoLved Sign Momentum)",
        _learning_rate(),
        Param(
            "beta_1",
            T.Float(min=0, max=1, min_open=True),
            0.9,
            help="interpolation between the momentum and the gradient",
        ),
        _beta_2(0.99),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "lamb",
        "Lamb",
        "Adam with layer-wise trust ratios, for large batches",
        _learning_rate(),
        _beta_1(),
        _beta_2(),
        _epsilon(),
        _weight_decay(),
        *_common(),
    ),
    _optimizer(
        "muon",
        "Muon",
        "orthogonalised momentum for 2-D weights, AdamW steps for the rest",
        _learning_rate(),
        _beta_1(name="adam_beta_1"),
        _beta_2(name="adam_beta_2"),
        Param("adam_weight_decay", _NON_NEGATIVE, 0.004, help="weight decay of the AdamW steps"),
        _epsilon(),
        _weight_decay(0.004),
        *_common(),
        Param(
            "exclude_layers",
            T.ListOf(T.Str()),
            None,
            help="layer-name patterns that get AdamW steps instead",
        ),
        Param("exclude_embeddings", T.Bool(), True, help="give embedding layers AdamW steps"),
        Param("muon_a", T.Float(), 3.4445, help="coefficient a of the Newton-Schulz iteration"),
        Param("muon_b", T.Float(), -4.775, help="coefficient b of the Newton-Schulz iteration"),
        Param("muon_c", T.Float(), 2.0315, help="coefficient c of the Newton-Schulz iteration"),
        Param(
            "adam_lr_ratio",
            _POSITIVE,
            1.0,
            help="AdamW learning rate as a multiple of learning_rate",
        ),
        Param("momentum", _DECAY_RATE, 0.95, help="momentum of the Muon steps"),
        Param("ns_steps", T.Int(min=1), 5, help="Newton-Schulz iterations per step"),
        Param("nesterov", T.Bool(), True, help="use Nesterov momentum"),
        Param(
            "rms_rate",
            _NON_NEGATIVE,
            0.2,
            help="match the update's RMS to AdamW's (0.2 recommended)",
        ),
    ),
    _optimizer(
        "schedule_free_adamw",
        "ScheduleFreeAdamW",
        "schedule-free AdamW: no learning-rate schedule needed",
        _learning_rate(0.0025),
        _beta_1(),
        _beta_2(),
        _epsilon(1e-8),
        Param(
            "warmup_steps",
            T.Int(min=0),
            0,
            help="steps over which the learning rate rises linearly from 0",
        ),
        _weight_decay(),
        *_common(),
        aliases=("schedulefreeadamw",),
    ),
)


@hookimpl
def register_optimizers(register: Register) -> None:
    """Register every built-in optimizer."""
    for optimizer in OPTIMIZERS:
        register(optimizer)
