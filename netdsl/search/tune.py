"""``netdsl tune``: a study over a space on Optuna, ask-and-tell, each trial an ordinary
``netdsl run`` in its own process and run folder.

The parent never imports TensorFlow: it asks Optuna for a point, resolves it to a plain
program and checks it (a refused point is told to Optuna as pruned with the reason and never
trained or counted), writes it as ``trials/NNNN/trial.net`` and starts ``netdsl run`` on it.
While trials run it reads each run folder's ``history.json`` (written after every epoch) and
reports the objective per epoch, so the pruner can stop a trial (SIGTERM: the run folder says
``stopped``); a trial past ``tune_trial_timeout`` is stopped and recorded failed, as is one
that crashes. Everything a study knows is in its storage, so a killed tuner's next run
continues it: a trial it left running is recorded failed and its point is tried again.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import NetdslSpaceError, NetdslTuneError
from ..lang.formatter import format as format_program
from ..lang.space import Space, resolve
from ..run.runs import read_json
from ..vocab.registry import Registry
from .check import SpaceReport, check_point, check_space
from .settings import TuneSettings
from .study import (
    FOLDER,
    INTERRUPTED,
    JOURNAL,
    OWNER,
    REFUSED,
    SKIPPED,
    ask_point,
    counted,
    import_optuna,
    open_storage,
    open_study,
    owner,
    stale_trials,
)

__all__ = ["TuneOptions", "Tuner", "objective_of"]

#: how often running trials are looked at (seconds)
POLL = 0.2
#: refused points in a row before the tuner gives up (the sampler keeps proposing them)
MAX_REFUSED_IN_A_ROW = 1000
#: why a trial stops when its history lacks the objective (then the tuner stops too)
NO_METRIC = "its history has no"
#: a stopped trial gets this long to write its folder before it is killed
GRACE = 10.0


@dataclass(frozen=True)
class TuneOptions:
    """What the command line adds to the program's tune settings."""

    study_dir: Path
    name: str
    storage: str | None = None
    jobs: int = 1
    data: str | None = None
    trials: int | None = None
    timeout: float | None = None
    threads: int | None = None
    run_args: tuple[str, ...] = ()
    #: only continue an existing study (a missing one is an error, not a new study)
    resume: bool = False
    #: what runs a trial, given ``FILE --quiet --out DIR ...`` (tests put a stand-in here)
    trial_command: tuple[str, ...] = ()


def _first_metric(model: Any) -> str:
    """The program's first metric as Keras logs it: a graph of several outputs logs each
    output's as ``<output>_<metric>``, so its first output's first metric; else ``loss``."""
    if model is None:
        return "loss"
    outputs = getattr(model, "outputs", ())
    if len(outputs) > 1:
        first = next((o for o in outputs if o.metrics), None)
        return f"{first.name}_{first.metrics[0].name}" if first else "loss"
    metrics = model.settings.metrics
    if isinstance(metrics, dict):  # one output, its metrics given by name
        metrics = next(iter(metrics.values()), None)
    return metrics[0].name if metrics else "loss"


def objective_of(report: SpaceReport, settings: TuneSettings) -> tuple[str, str]:
    """The history entry a trial is judged by, and the direction (from the tune settings, else
    from the checked program: ``val_`` + its first metric when it holds data out)."""
    metric = settings.metric
    model = report.example
    if metric is not None and metric.startswith("val_") and model is not None:
        if not model.settings.validation_split:
            raise NetdslTuneError(
                f"tune_metric `{metric}` is measured on held-out data, and the program holds "
                "none out",
                code="NDL330",
                help="set validation_split (e.g. 0.2), or tune on a training metric",
            )
    if metric is None:
        first = _first_metric(model)
        held_out = bool(model and model.settings.validation_split)
        metric = ("val_" if held_out else "") + first
    direction = settings.direction
    if direction is None:
        low = any(w in metric for w in ("loss", "error", "mae", "mse"))
        direction = "minimize" if low else "maximize"
    return metric, direction


@dataclass
class Running:
    """One trial in flight: its Optuna trial, process, folder and what was reported."""

    trial: Any
    proc: subprocess.Popen[bytes]
    folder: Path
    started: float
    log: IO[bytes]
    reported: int = 0
    stopping: str | None = None
    stop_sent: float = 0.0
    last: float | None = None


@dataclass
class Tuner:
    """The ask-and-tell loop over one study (:meth:`run`), writing lines through ``say``."""

    space: Space
    settings: TuneSettings
    options: TuneOptions
    registry: Registry
    say: Callable[[str], None]
    report: SpaceReport | None = None
    allowed: dict[str, tuple[int, ...]] = field(default_factory=dict)
    running: list[Running] = field(default_factory=list)

    def run(self) -> Any:
        """Check the space, open the study, run trials until the budget is spent; the study."""
        optuna = import_optuna()
        self.report = check_space(
            self.space,
            self.registry,
            data=self.options.data,
            max_params=self.settings.max_params,
        )
        for line in self.report.lines():
            self.say(line)
        if self.report.passed == 0:
            err = NetdslSpaceError(
                "no point of the search space passes the check; nothing to tune",
                self.space.params[0].span if self.space.params else None,
                code="NDL017",
                help="`netdsl check` shows why each point fails",
            )
            err.source = self.space.program.source
            raise err
        self.metric, direction = objective_of(self.report, self.settings)
        if self.options.resume:
            _must_exist(optuna, self.options)
        if self.options.storage is None:  # the journal file needs its folder first
            self.options.study_dir.mkdir(parents=True, exist_ok=True)
        # an RDB is reached before anything is written here: an unreachable one leaves no trace
        storage = open_storage(optuna, self.options.study_dir, self.options.storage)
        self.options.study_dir.mkdir(parents=True, exist_ok=True)
        self.allowed = self.report.allowed(self.space)
        study = open_study(
            optuna, storage, self.options.name, self.space, self.settings, direction, self.allowed
        )
        for name, keep in self.allowed.items():
            p = self.space.param(name)
            dropped = [p.option_text(i) for i in range(len(p.options)) if i not in keep]
            self.say(f"{name}: {', '.join(dropped)} left out (in no point that passes)")
        self.say(
            f"study {self.options.name}: {self.metric} ({direction}), "
            f"folder {self.options.study_dir}"
        )
        self._recover(study)
        self._loop(study, optuna)
        return study

    # --- the loop ---------------------------------------------------------------------------

    def budget(self) -> int:
        return self.options.trials or self.settings.trials

    def _loop(self, study: Any, optuna: Any) -> None:
        deadline = _deadline(self.options.timeout or self.settings.timeout)
        refused = 0
        try:
            while True:
                self._poll(study, optuna)
                more = self._used(study) + len(self.running) < self.budget()
                if deadline is not None and time.monotonic() > deadline:
                    more = False
                if more and len(self.running) < self.options.jobs and not _grid_done(study):
                    refused = self._start(study, optuna, refused)
                    continue
                if not self.running:
                    return
                time.sleep(POLL)
        finally:
            self._stop_all(study, optuna)

    def _used(self, study: Any) -> int:
        from optuna.trial import TrialState

        done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
        mine = {r.trial.number for r in self.running}
        return sum(
            1
            for t in study.get_trials(deepcopy=False, states=done)
            if counted(t) and t.number not in mine
        )

    def _earlier(self, study: Any, number: int) -> int:
        """Trials before ``number`` that use up the budget: trial numbers are handed out in
        order by the storage, so of tuners racing for the last slot the first asked wins."""
        return sum(1 for t in study.get_trials(deepcopy=False) if t.number < number and counted(t))

    def _start(self, study: Any, optuna: Any, refused: int) -> int:
        """Ask for a point; refuse it (told as pruned) or start its trial. The refusals in a
        row so far."""
        trial = study.ask()
        trial.set_user_attr(OWNER, owner())
        if self._earlier(study, trial.number) >= self.budget():  # another tuner took the last
            trial.set_user_attr(SKIPPED, "the trial budget was spent by another process")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return refused
        point = ask_point(trial, self.space, self.allowed)
        result = check_point(
            self.space,
            point,
            self.registry,
            data=self.options.data,
            max_params=self.settings.max_params,
        )
        if not result.ok:
            why = result.refused or "it fails the check"
            if result.errors:
                why += ": " + result.errors[0].message
            trial.set_user_attr(REFUSED, why)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self.say(f"trial {trial.number}: refused before training ({why})")
            if refused + 1 >= MAX_REFUSED_IN_A_ROW:
                raise NetdslSpaceError(
                    f"the sampler proposed {MAX_REFUSED_IN_A_ROW} refused points in a row",
                    code="NDL017",
                    help="narrow the space to points that pass `netdsl check`",
                )
            return refused + 1
        self.running.append(self._launch(trial, point))
        return 0

    def _launch(self, trial: Any, point: Mapping[str, Any]) -> Running:
        folder = self.options.study_dir / "trials" / f"{trial.number:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        program = resolve(self.space, point)
        text = format_program(_seeded(program, trial.number))
        (folder / "trial.net").write_text(text, encoding="utf-8")
        trial.set_user_attr(FOLDER, str(folder))
        base = self.options.trial_command or (sys.executable, "-m", "netdsl", "run")
        cmd = [*base, str(folder / "trial.net"), "--quiet", "--out", str(folder)]
        if self.options.data:
            cmd += ["--data", self.options.data]
        if self.options.threads:
            cmd += ["--threads", str(self.options.threads)]
        cmd += list(self.options.run_args)
        log = open(folder / "output.log", "wb")  # noqa: SIM115 - closed when the trial ends
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        self.say(f"trial {trial.number}: started ({self.space.describe_point(point)})")
        return Running(trial, proc, folder, time.monotonic(), log)

    # --- watching trials --------------------------------------------------------------------

    def _poll(self, study: Any, optuna: Any) -> None:
        for r in list(self.running):
            self._report_epochs(r, study)
            code = r.proc.poll()
            if code is not None:
                self._finish(r, code, study, optuna)
                self.running.remove(r)
            elif r.stopping and time.monotonic() - r.stop_sent > GRACE:
                r.proc.kill()
            elif not r.stopping:
                limit = self.settings.trial_timeout
                if limit is not None and time.monotonic() - r.started > limit:
                    self._stop(r, f"timed out after {limit:g} s")

    def _report_epochs(self, r: Running, study: Any) -> None:
        history = _history(r.folder)
        for epoch, row in enumerate(history[r.reported :], r.reported + 1):
            value = row.get(self.metric)
            if value is None:
                keys = ", ".join(sorted(row))
                self._stop(r, f"{NO_METRIC} `{self.metric}` (it has {keys})")
                return
            r.trial.report(float(value), epoch)
            r.last = float(value)
            r.reported = epoch
            if not r.stopping and r.trial.should_prune():
                self._stop(r, "pruned")
                return

    def _stop(self, r: Running, why: str) -> None:
        if r.stopping is None:
            r.stopping = why
            r.stop_sent = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                r.proc.send_signal(signal.SIGTERM)

    def _finish(self, r: Running, code: int, study: Any, optuna: Any) -> None:
        r.log.close()
        self._report_epochs(r, study)
        state = optuna.trial.TrialState
        took = time.monotonic() - r.started
        r.trial.set_user_attr("seconds", round(took, 2))
        status = (_metrics(r.folder) or {}).get("status")
        if r.stopping == "pruned":
            study.tell(r.trial, state=state.PRUNED)
            self.say(f"trial {r.trial.number}: pruned after {r.reported} epochs ({took:.1f} s)")
        elif r.stopping is not None:
            r.trial.set_user_attr("error", r.stopping)
            study.tell(r.trial, state=state.FAIL)
            self.say(f"trial {r.trial.number}: failed, {r.stopping}")
            if r.stopping.startswith(NO_METRIC):  # every trial would: the program must say
                raise NetdslTuneError(
                    f"trial {r.trial.number}: {r.stopping}",
                    code="NDL330",
                    help="set tune_metric to one of the history's entries",
                )
        elif code == 0 and r.last is not None:
            test = (_metrics(r.folder) or {}).get("test") or {}
            r.trial.set_user_attr("test", test)
            study.tell(r.trial, r.last)
            self.say(f"trial {r.trial.number}: {self.metric}={r.last:.4f} ({took:.1f} s)")
        else:
            r.trial.set_user_attr("error", _last_error(r.folder, code, status))
            study.tell(r.trial, state=state.FAIL)
            self.say(f"trial {r.trial.number}: failed ({r.trial.user_attrs['error']})")

    def _stop_all(self, study: Any, optuna: Any) -> None:
        """The tuner itself is stopping (Ctrl-C, an error): stop its trials and record them as
        interrupted, so the next run tries their points again."""
        for r in self.running:
            with contextlib.suppress(ProcessLookupError):
                r.proc.send_signal(signal.SIGTERM)
        for r in self.running:
            try:
                r.proc.wait(GRACE)
            except subprocess.TimeoutExpired:
                r.proc.kill()
            r.log.close()
            with contextlib.suppress(Exception):
                _interrupted(study, optuna, r.trial.number, r.trial.params)
        self.running.clear()

    def _recover(self, study: Any) -> None:
        """Trials a killed tuner left running: recorded failed, their points asked again."""
        optuna = import_optuna()
        for t in list(stale_trials(study)):
            _interrupted(study, optuna, t.number, t.params)
            self.say(
                f"trial {t.number}: its tuner was killed mid-trial; recorded failed, "
                "its point is tried again"
            )


def _must_exist(optuna: Any, options: TuneOptions) -> None:
    """``--resume``: the study must be there already."""
    if options.storage is None and not (options.study_dir / JOURNAL).exists():
        raise NetdslTuneError(
            f"no study to resume in {options.study_dir}",
            code="NDL330",
            help="run without --resume to start one, or give the study's --study folder",
        )
    if options.storage is not None:
        names = optuna.get_all_study_names(open_storage(optuna, options.study_dir, options.storage))
        if options.name not in names:
            raise NetdslTuneError(
                f"no study `{options.name}` to resume in the storage",
                code="NDL330",
                help="its studies: " + (", ".join(names) or "none"),
            )


def _interrupted(study: Any, optuna: Any, number: int, params: dict[str, Any]) -> None:
    study._storage.set_trial_user_attr(  # the trial object may be gone (a killed tuner)
        study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number),
        INTERRUPTED,
        True,
    )
    study.tell(number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    if params:
        study.enqueue_trial(params, skip_if_exists=False)


def _seeded(program: Any, number: int) -> Any:
    """The trial's program with a seed (the program's, else the trial's number), so its run,
    and the best.net written from it, are reproducible."""
    from dataclasses import replace

    from ..lang import ir

    if program.setting("seed") is not None:
        return program
    return replace(program, settings=(*program.settings, ir.Setting("seed", ir.Int(number))))


def _history(folder: Path) -> list[dict[str, float]]:
    for run in _run_folders(folder):
        data = read_json(run / "history.json")
        if isinstance(data, dict) and isinstance(data.get("epochs"), list):
            return [row for row in data["epochs"] if isinstance(row, dict)]
    return []


def _metrics(folder: Path) -> dict[str, Any] | None:
    for run in _run_folders(folder):
        data = read_json(run / "metrics.json")
        return data if isinstance(data, dict) else None
    return None


def _run_folders(folder: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError):
        yield from sorted(p for p in folder.iterdir() if p.is_dir())


def run_folder(folder: Path) -> Path | None:
    """The trial's run folder (the one folder ``netdsl run --out`` made in it)."""
    return next(_run_folders(folder), None)


def _last_error(folder: Path, code: int, status: str | None) -> str:
    """Why a trial's process failed: the run's recorded error, else its output's last line."""
    m = _metrics(folder) or {}
    error = m.get("error")
    if isinstance(error, dict) and error.get("message"):
        return f"{status}: {error['message']}"[:300]
    try:
        tail = (folder / "output.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        tail = []
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    return (f"{how}: {tail[-1]}" if tail else how)[:300]


def _deadline(seconds: float | None) -> float | None:
    return None if seconds is None else time.monotonic() + seconds


def _grid_done(study: Any) -> bool:
    sampler = study.sampler
    is_done = getattr(sampler, "is_exhausted", None)
    return bool(is_done(study)) if is_done is not None else False


def _die_with_parent() -> None:
    """In the trial process: SIGTERM when the tuner dies, however (Linux ``PR_SET_PDEATHSIG``),
    so a killed tuner leaves no trial training on."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
