"""The tuner's settings (``tune_trials: 30``), one table like :mod:`netdsl.vocab.settings`:
they live in the program with the space they tune, and are set apart before a point is
resolved, so a trial's run never sees them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import NetdslSettingError, Span
from ..lang import ir
from ..vocab.registry import suggest

__all__ = ["TUNE_SETTINGS", "TuneSetting", "TuneSettings", "read_tune_settings"]


@dataclass(frozen=True)
class TuneSetting:
    """One row: the key, what it takes (in words and as a reader), its default and help."""

    name: str
    takes: str
    read: Callable[[ir.Node], Any]
    default: Any
    help: str


def _int_from(least: int) -> Callable[[ir.Node], Any]:
    def read(v: ir.Node) -> Any:
        if isinstance(v, ir.Int) and v.value >= least:
            return v.value
        raise ValueError

    return read


def _seconds(v: ir.Node) -> Any:
    if isinstance(v, (ir.Int, ir.Float)) and v.value > 0:
        return float(v.value)
    raise ValueError


def _one_of(*names: str) -> Callable[[ir.Node], Any]:
    def read(v: ir.Node) -> Any:
        if isinstance(v, ir.Name) and v.value in names:
            return v.value
        raise ValueError

    return read


def _metric(v: ir.Node) -> Any:
    if isinstance(v, ir.Name):
        return v.value
    raise ValueError


#: the rows; ``netdsl tune --help`` and docs/search.md list them
TUNE_SETTINGS: tuple[TuneSetting, ...] = (
    TuneSetting(
        "tune_metric",
        "a history metric name, e.g. val_accuracy",
        _metric,
        None,
        "what a trial is judged by: its last epoch's value of this history entry "
        "(default: val_ of the main metric with validation_split, else the metric)",
    ),
    TuneSetting(
        "tune_direction",
        "maximize or minimize",
        _one_of("maximize", "minimize"),
        None,
        "default: minimize for a loss or an error, else maximize",
    ),
    TuneSetting(
        "tune_trials",
        "a whole number from 1",
        _int_from(1),
        20,
        "how many trials the study runs (refused points are not trials)",
    ),
    TuneSetting(
        "tune_timeout",
        "seconds above 0",
        _seconds,
        None,
        "stop starting trials after this long (this tuner process)",
    ),
    TuneSetting(
        "tune_trial_timeout",
        "seconds above 0",
        _seconds,
        None,
        "a trial running longer is stopped and recorded failed",
    ),
    TuneSetting(
        "tune_sampler",
        "tpe, random or grid",
        _one_of("tpe", "random", "grid"),
        "tpe",
        "how points are proposed",
    ),
    TuneSetting(
        "tune_pruner",
        "none, median or hyperband",
        _one_of("none", "median", "hyperband"),
        "median",
        "stopping trials early from their per-epoch reports",
    ),
    TuneSetting(
        "tune_max_params",
        "a whole number from 1",
        _int_from(1),
        None,
        "points with more parameters are removed before sampling",
    ),
    TuneSetting(
        "tune_seed",
        "a whole number from 0",
        _int_from(0),
        None,
        "the sampler's seed (a reproducible sequence of points)",
    ),
)
TABLE: Mapping[str, TuneSetting] = MappingProxyType({s.name: s for s in TUNE_SETTINGS})


@dataclass(frozen=True)
class TuneSettings:
    """The effective tune settings (None: decided later, e.g. the metric from the run)."""

    metric: str | None = None
    direction: str | None = None
    trials: int = 20
    timeout: float | None = None
    trial_timeout: float | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    max_params: int | None = None
    seed: int | None = None


def read_tune_settings(lines: tuple[ir.Setting, ...]) -> TuneSettings:
    """The table's values from a program's ``tune_*`` lines; a wrong one is an error at it."""
    values: dict[str, Any] = {}
    errors: list[NetdslSettingError] = []
    for s in lines:
        row = TABLE.get(s.key)
        if row is None:
            errors.append(_unknown(s))
            continue
        if s.key in values:
            errors.append(
                NetdslSettingError(
                    f"`{s.key}` is set twice", s.key_span, label="set before", code="NDL004"
                )
            )
            continue
        try:
            values[s.key] = row.read(s.value)
        except ValueError:
            errors.append(_wrong(s, row))
    if errors:
        from ..errors import NetdslErrors

        raise errors[0] if len(errors) == 1 else NetdslErrors(errors)
    return TuneSettings(**{k.removeprefix("tune_"): v for k, v in values.items()})


def _unknown(s: ir.Setting) -> NetdslSettingError:
    guess = suggest(s.key, TABLE)
    return NetdslSettingError(
        f"unknown tune setting `{s.key}`",
        s.key_span,
        label="not a tune setting",
        code="NDL004",
        help=f"did you mean `{guess}`?" if guess else "the tune settings: " + ", ".join(TABLE),
    )


def _wrong(s: ir.Setting, row: TuneSetting) -> NetdslSettingError:
    span: Span | None = getattr(s.value, "span", None)
    return NetdslSettingError(
        f"`{s.key}` takes {row.takes}",
        span or s.span,
        label=f"not {row.takes}",
        code="NDL004",
        help=row.help,
    )
