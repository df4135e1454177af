"""Built-in learning-rate schedules, usable wherever a learning rate goes:
``optimizer: adam(learning_rate=cosine_decay(1e-3, warmup_steps=500))``.

Schedules that decay over the run (``uses_steps``) are given ``total_steps``, the optimizer
steps of the whole run: ``ceil(training examples x (1 - validation_split) / batch_size) x
epochs``; their ``decay_steps`` defaults to it. ``build`` imports Keras only when called.
``netdsl emit`` writes each as the Keras schedule its ``build`` makes (``emit``), and
``one_cycle`` as a small ``OneCycle`` class in the program (:data:`ONE_CYCLE_SOURCE`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import Code, Param, Schedule, keras_factory
from netdsl.vocab.hookspecs import Register, hookimpl

__all__ = [
    "ONE_CYCLE_SOURCE",
    "SCHEDULES",
    "one_cycle_class",
    "register_schedules",
]  # OneCycle: lazy

_RATE = T.Float(min=0, min_open=True)
_STEPS = T.Int(min=1)


def _rate(name: str = "learning_rate") -> Param:
    return Param(name, _RATE, positional=True, help="the learning rate at the start (or the peak)")


def _decay_steps() -> Param:
    return Param(
        "decay_steps",
        _STEPS,
        None,
        help="steps over which the rate decays (default: the whole run)",
    )


def _cosine(
    total_steps: int, learning_rate: float, warmup_steps: int, decay_steps: int | None, alpha: float
) -> Any:
    """Keras's CosineDecay, rising linearly from 0 to ``learning_rate`` over ``warmup_steps``."""
    import keras

    decay = decay_steps or max(1, total_steps - warmup_steps)
    if warmup_steps:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay, alpha=alpha, warmup_target=learning_rate, warmup_steps=warmup_steps
        )
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay, alpha=alpha)


def _keras_call(keras_class: str, args: Sequence[tuple[str, str]]) -> str:
    """``keras.optimizers.schedules.<keras_class>(key=value, ...)`` from arguments' source."""
    return f"keras.optimizers.schedules.{keras_class}({', '.join(f'{k}={v}' for k, v in args)})"


def _emit_cosine(args: Mapping[str, str]) -> str:
    """What :func:`_cosine` builds, as Keras code."""
    warmup = args["warmup_steps"] != "0"
    decay = args["decay_steps"]
    if decay == "None":
        decay = f"max(1, total_steps - {args['warmup_steps']})" if warmup else args["total_steps"]
    if not warmup:
        return _keras_call(
            "CosineDecay",
            (
                ("initial_learning_rate", args["learning_rate"]),
                ("decay_steps", decay),
                ("alpha", args["alpha"]),
            ),
        )
    return _keras_call(
        "CosineDecay",
        (
            ("initial_learning_rate", "0.0"),
            ("decay_steps", decay),
            ("alpha", args["alpha"]),
            ("warmup_target", args["learning_rate"]),
            ("warmup_steps", args["warmup_steps"]),
        ),
    )


def _emit_decaying(keras_class: str) -> Any:
    """What :func:`_decaying` builds, as Keras code: ``decay_steps`` defaults to the whole run."""

    def emit(args: Mapping[str, str]) -> str:
        decay = args["total_steps"] if args["decay_steps"] == "None" else args["decay_steps"]
        rest = [
            (k, v)
            for k, v in args.items()
            if k not in ("learning_rate", "decay_steps", "total_steps")
        ]
        return _keras_call(
            keras_class,
            (("initial_learning_rate", args["learning_rate"]), ("decay_steps", decay), *rest),
        )

    return emit


def _decaying(keras_class: str) -> Any:
    """A Keras decay schedule whose ``decay_steps`` defaults to the whole run."""
    factory = keras_factory(f"optimizers.schedules.{keras_class}")

    def build(
        total_steps: int, learning_rate: float, decay_steps: int | None = None, **kw: Any
    ) -> Any:
        return factory(
            initial_learning_rate=learning_rate, decay_steps=decay_steps or total_steps, **kw
        )

    return build


def _piecewise(boundaries: list[int], values: list[float]) -> Any:
    """Keras's PiecewiseConstantDecay, after checking the two lists fit together."""
    import keras

    if len(values) != len(boundaries) + 1:
        raise ValueError(
            f"piecewise_constant needs one more value than boundaries "
            f"({len(boundaries)} boundaries, {len(values)} values)"
        )
    return keras.optimizers.schedules.PiecewiseConstantDecay(list(boundaries), list(values))


_ONE_CYCLE: list[Any] = []

#: the one-cycle schedule as ``netdsl emit`` writes it into a program: the arithmetic of
#: :func:`one_cycle_class`, op for op (tests/test_emit.py trains both to identical weights)
ONE_CYCLE_SOURCE = '''
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle policy (as netdsl's one_cycle): cosine rise from max / div_factor
    to max over pct_start of the steps, then cosine fall to max / (div x final_div)."""

    def __init__(
        self,
        max_learning_rate,
        total_steps,
        pct_start=0.3,
        div_factor=25.0,
        final_div_factor=1e4,
    ):
        self.max_learning_rate = max_learning_rate
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        peak = max(1.0, self.pct_start * self.total_steps)
        start = self.max_learning_rate / self.div_factor
        end = start / self.final_div_factor
        up = keras.ops.minimum(step / peak, 1.0)
        fall = max(1.0, self.total_steps - peak)
        down = keras.ops.clip((step - peak) / fall, 0.0, 1.0)
        top = self.max_learning_rate
        rising = start + (top - start) * (1 - keras.ops.cos(math.pi * up)) / 2
        falling = end + (top - end) * (1 + keras.ops.cos(math.pi * down)) / 2
        return keras.ops.where(step < peak, rising, falling)

    def get_config(self):
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }
'''


def one_cycle_class() -> Any:
    """The one-cycle ``LearningRateSchedule`` class (made on first use, registered with Keras)."""
    if _ONE_CYCLE:
        return _ONE_CYCLE[0]
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="netdsl")
    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        """Smith's one-cycle policy: cosine rise from max/div to max over ``pct_start`` of the
        steps, then cosine fall to max/(div x final_div)."""

        def __init__(
            self,
            max_learning_rate: float,
            total_steps: int,
            pct_start: float = 0.3,
            div_factor: float = 25.0,
            final_div_factor: float = 1e4,
        ) -> None:
            self.max_learning_rate = max_learning_rate
            self.total_steps = total_steps
            self.pct_start = pct_start
            self.div_factor = div_factor
            self.final_div_factor = final_div_factor

        def __call__(self, step: Any) -> Any:
            step = ops.cast(step, "float32")
            peak = max(1.0, self.pct_start * self.total_steps)
            start = self.max_learning_rate / self.div_factor
            end = start / self.final_div_factor
            up = ops.minimum(step / peak, 1.0)
            down = ops.clip((step - peak) / max(1.0, self.total_steps - peak), 0.0, 1.0)
            rising = start + (self.max_learning_rate - start) * (1 - ops.cos(math.pi * up)) / 2
            falling = end + (self.max_learning_rate - end) * (1 + ops.cos(math.pi * down)) / 2
            return ops.where(step < peak, rising, falling)

        def get_config(self) -> dict[str, Any]:
            return {
                "max_learning_rate": self.max_learning_rate,
                "total_steps": self.total_steps,
                "pct_start": self.pct_start,
                "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor,
            }

    _ONE_CYCLE.append(OneCycle)
    return OneCycle


def __getattr__(name: str) -> Any:
    """``OneCycle``, made on first use: the ``custom_objects`` entry that loads a saved model
    (``netdsl_builtins.schedules:OneCycle``) without importing Keras with this module."""
    if name == "OneCycle":
        return one_cycle_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _one_cycle(total_steps: int, learning_rate: float, **kw: Any) -> Any:
    return one_cycle_class()(learning_rate, total_steps, **kw)


def _emit_one_cycle(args: Mapping[str, str]) -> Code:
    """``OneCycle(...)``, with the class written into the program."""
    given = ", ".join(f"{k}={args[k]}" for k in ("pct_start", "div_factor", "final_div_factor"))
    return Code(
        f"OneCycle({args['learning_rate']}, {args['total_steps']}, {given})",
        imports=("import math",),
        definitions=(ONE_CYCLE_SOURCE,),
    )


def _emit_piecewise(args: Mapping[str, str]) -> str:
    return _keras_call(
        "PiecewiseConstantDecay", (("boundaries", args["boundaries"]), ("values", args["values"]))
    )


#: every built-in schedule
SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="cosine_decay",
        build=_cosine,
        emit=_emit_cosine,
        uses_steps=True,
        description="cosine decay to alpha x the rate over the run, after an optional linear warmup",
        params=(
            _rate(),
            Param(
                "warmup_steps",
                T.Int(min=0),
                0,
                help="steps of linear rise from 0 to the rate first",
            ),
            _decay_steps(),
            Param("alpha", T.Float(min=0, max=1), 0.0, help="the final rate as a fraction"),
        ),
    ),
    Schedule(
        name="exponential_decay",
        build=_decaying("ExponentialDecay"),
        emit=_emit_decaying("ExponentialDecay"),
        uses_steps=True,
        description="rate x decay_rate ^ (step / decay_steps)",
        params=(
            _rate(),
            Param("decay_rate", _RATE, 0.1, help="the factor per decay_steps"),
            _decay_steps(),
            Param("staircase", T.Bool(), False, help="decay in whole steps of decay_steps"),
        ),
    ),
    Schedule(
        name="inverse_time_decay",
        build=_decaying("InverseTimeDecay"),
        emit=_emit_decaying("InverseTimeDecay"),
        uses_steps=True,
        description="rate / (1 + decay_rate x step / decay_steps)",
        params=(
            _rate(),
            Param("decay_rate", _RATE, 1.0, help="how fast the rate falls"),
            _decay_steps(),
            Param("staircase", T.Bool(), False, help="decay in whole steps"),
        ),
    ),
    Schedule(
        name="polynomial_decay",
        build=_decaying("PolynomialDecay"),
        emit=_emit_decaying("PolynomialDecay"),
        uses_steps=True,
        description="polynomial decay from the rate to end_learning_rate over decay_steps",
        params=(
            _rate(),
            _decay_steps(),
            Param("end_learning_rate", T.Float(min=0), 1e-4, help="the rate at the end"),
            Param("power", _RATE, 1.0, help="the polynomial's power (1 is linear)"),
            Param("cycle", T.Bool(), False, help="start again after decay_steps"),
        ),
    ),
    Schedule(
        name="piecewise_constant",
        build=_piecewise,
        emit=_emit_piecewise,
        description="constant rates between step boundaries: values[i] until boundaries[i]",
        params=(
            Param(
                "boundaries",
                T.ListOf(T.Int(min=1)),
                positional=True,
                help="the steps at which the rate changes, increasing",
            ),
            Param(
                "values",
                T.ListOf(_RATE),
                positional=True,
                help="the rates, one more than the boundaries",
            ),
        ),
    ),
    Schedule(
        name="one_cycle",
        build=_one_cycle,
        emit=_emit_one_cycle,
        uses_steps=True,
        custom_objects=("netdsl_builtins.schedules:OneCycle",),
        description="one-cycle policy: rise to the rate for pct_start of the run, then anneal",
        params=(
            _rate(),
            Param(
                "pct_start",
                T.Float(min=0, max=1, min_open=True, max_open=True),
                0.3,
                help="fraction of the run spent rising",
            ),
            Param("div_factor", T.Float(min=1), 25.0, help="the start rate is rate / div_factor"),
            Param(
                "final_div_factor",
                T.Float(min=1),
                1e4,
                help="the final rate is the start rate / final_div_factor",
            ),
        ),
        aliases=("onecycle",),
    ),
)


@hookimpl
def register_schedules(register: Register) -> None:
    """Register every built-in schedule."""
    for schedule in SCHEDULES:
        register(schedule)
