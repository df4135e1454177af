"""An Optuna study for a space: its storage (a journal file in the study folder, or an RDB URL
shared by machines), sampler and pruner from the tune settings, a point asked of Optuna
parameter by parameter (define-by-run, so a parameter inside an unchosen option is never
asked), and what the study holds (trials that count, trials left behind by a killed tuner).

Optuna is imported here only (``pip install 'netdsl[tune]'``); never TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import NetdslTuneError
from ..lang.formatter import format as format_program
from ..lang.space import Param, Space
from .settings import TuneSettings

__all__ = [
    "ask_point",
    "counted",
    "import_optuna",
    "make_pruner",
    "make_sampler",
    "open_study",
    "space_key",
    "stale_trials",
]

#: user attributes netdsl keeps on a trial
REFUSED, INTERRUPTED, OWNER, FOLDER, SKIPPED = "refused", "interrupted", "owner", "folder", "skip"
JOURNAL = "journal.log"


def import_optuna() -> Any:
    """The optuna module, or NDL330 saying what to install."""
    try:
        import optuna
    except ImportError:
        raise NetdslTuneError(
            "netdsl tune needs Optuna, which is not installed",
            code="NDL330",
            help="pip install 'netdsl[tune]'",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def space_key(space: Space) -> str:
    """A digest of the space (its plain program and parameters): a study remembers it, so
    continuing it from another program is refused."""
    text = format_program(space.program) + "\n".join(p.describe() + p.name for p in space.params)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _masked(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def open_storage(optuna: Any, folder: Path, url: str | None) -> Any:
    """The study's storage: the RDB at ``url`` (connected now, so an unreachable one is a clear
    error before anything is written locally), else the journal file in ``folder``."""
    if url is not None:
        return _rdb(optuna, url)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(folder / JOURNAL)))


def _rdb(optuna: Any, url: str, tries: int = 5) -> Any:
    """Optuna's RDB storage at ``url``. Tuners started together may race to create its tables
    (a unique-key error in one): that is tried again; a server that cannot be reached is not."""
    if url.startswith("postgresql://") and not _has("psycopg2") and _has("psycopg"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")  # the driver we ship
    for attempt in range(tries):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except ImportError as e:
            raise NetdslTuneError(
                f"the storage {_masked(url)} needs a driver that is not installed ({e})",
                code="NDL330",
                help="pip install 'netdsl[tune]' (SQLAlchemy and psycopg)",
            ) from None
        except Exception as e:  # noqa: BLE001 - SQLAlchemy's errors, told apart by name
            if type(e).__name__ == "IntegrityError" and attempt + 1 < tries:
                time.sleep(0.2 * (attempt + 1))
                continue
            text = str(e).strip()
            first = text.splitlines()[0] if text else type(e).__name__
            raise NetdslTuneError(
                f"cannot reach the study storage {_masked(url)}: {first}",
                code="NDL330",
                help="check the URL, that the server runs and accepts this user; nothing "
                "was written locally",
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def make_sampler(
    optuna: Any, space: Space, settings: TuneSettings, allowed: Allowed | None = None
) -> Any:
    """The sampler the ``tune_sampler`` row names."""
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    if settings.sampler == "grid":
        return _grid_sampler(optuna)(_grid(space, allowed), seed=settings.seed)
    return optuna.samplers.TPESampler(seed=settings.seed)


def _grid_sampler(optuna: Any) -> Any:
    """Optuna's grid sampler without its ``study.stop()`` when the grid is spent, which only an
    ``optimize`` loop may call; the tuner asks ``is_exhausted`` itself (ask-and-tell)."""

    class Grid(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return Grid


def _grid(space: Space, allowed: Allowed | None = None) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for p in space.params:
        n = p.count
        if n is None or n > 100_000:
            raise NetdslTuneError(
                f"the grid sampler needs every parameter discrete and small; {p.name} is "
                f"{p.describe()}",
                p.span,
                code="NDL330",
                help="give the range a step= (or use tune_sampler: tpe)",
            )
        grid[p.name] = _offered(p, _labels(p), allowed) if p.options else _range_values(p)
    return grid


def _range_values(p: Param) -> list[Any]:
    step = p.step or 1
    n = p.count or 0
    if p.kind == "int":
        return [int(p.low + i * step) for i in range(n)]
    return [p.low + i * step for i in range(n)]


def make_pruner(optuna: Any, settings: TuneSettings) -> Any:
    """The pruner the ``tune_pruner`` row names (it reads the trials' per-epoch reports)."""
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def open_study(
    optuna: Any,
    storage: Any,
    name: str,
    space: Space,
    settings: TuneSettings,
    direction: str,
    allowed: Allowed | None = None,
) -> Any:
    """Create the study, or load it to continue; one made from another space is refused."""
    key = space_key(space)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction=direction,
        sampler=make_sampler(optuna, space, settings, allowed),
        pruner=make_pruner(optuna, settings),
        load_if_exists=True,
    )
    made = study.user_attrs.get("space")
    if made is None:
        study.set_user_attr("space", key)
        study.set_user_attr("direction", direction)
    elif made != key:
        raise NetdslTuneError(
            f"the study `{name}` was made from another program (its space differs)",
            code="NDL330",
            help="use another --study folder (or --name), or the program the study was made from",
        )
    if study.direction.name.lower() != direction:
        raise NetdslTuneError(
            f"the study `{name}` is set to {study.direction.name.lower()}, the program says "
            f"{direction}",
            code="NDL330",
            help="use another --study folder (or --name)",
        )
    return study


def _labels(p: Param) -> list[Any]:
    """Optuna's categorical values of a choice: the numbers themselves when every option is
    one (plots then read them as numbers), else each option's text."""
    from ..lang import ir

    if all(isinstance(o, (ir.Int, ir.Float)) for o in p.options):
        return [o.value for o in p.options]
    return [p.option_text(i) for i in range(len(p.options))]


#: a choice's options the static check found in some passing point (a choice left out: all)
Allowed = Mapping[str, tuple[int, ...]]


def ask_point(trial: Any, space: Space, allowed: Allowed | None = None) -> dict[str, Any]:
    """Ask the trial for each active parameter in source order (a step choice before what its
    options hold); the point maps a choice to its option's index. Options outside ``allowed``
    (those in no passing point) are never offered to the sampler."""
    point: dict[str, Any] = {}
    for p in space.params:
        if not space.active(p, point):
            continue
        if p.options:
            labels = _labels(p)
            offered = _offered(p, labels, allowed)
            point[p.name] = labels.index(trial.suggest_categorical(p.name, offered))
        elif p.kind == "int":
            point[p.name] = trial.suggest_int(
                p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log
            )
        else:
            point[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
    return point


def _offered(p: Param, labels: list[Any], allowed: Allowed | None) -> list[Any]:
    keep = (allowed or {}).get(p.name)
    return labels if keep is None else [labels[i] for i in keep]


def point_of(params: dict[str, Any], space: Space) -> dict[str, Any]:
    """A recorded trial's parameters (Optuna's values) as a point (option indices)."""
    point: dict[str, Any] = {}
    for p in space.params:
        if p.name in params:
            point[p.name] = _labels(p).index(params[p.name]) if p.options else params[p.name]
    return point


def counted(trial: Any) -> bool:
    """Whether a trial uses up the budget: finished, pruned or failed on its own, not a point
    refused before training, one interrupted by a killed tuner, or one started past the budget."""
    attrs = trial.user_attrs
    if trial.state.name == "WAITING":  # enqueued, not started
        return False
    return not (REFUSED in attrs or INTERRUPTED in attrs or SKIPPED in attrs)


def owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def stale_trials(study: Any) -> Iterator[Any]:
    """RUNNING trials whose tuner process on this host is gone (killed mid-trial)."""
    from optuna.trial import TrialState

    here = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = t.user_attrs.get(OWNER) or {}
        if who.get("host") == here and not _alive(int(who.get("pid", -1))):
            yield t


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
