"""``netdsl run`` as a library call: load the data, then the phases of a run (fitting,
evaluating, saving) in its run folder (:mod:`netdsl.run.runs`).

The data is loaded before the folder is made, so a run that cannot read its data leaves no
folder behind. From then on ``metrics.json`` says what happens: ``finished``; ``stopped``
(Ctrl-C or SIGTERM, in any phase: every finished epoch is kept, ``STOPPED`` is written);
``failed`` (a netdsl error: NaN loss or weights, bad data, a full disk) or ``crashed``
(anything else), with the error. A new run that fails before any epoch finished (a NaN loss
aside) removes its folder again: nothing in it was worth keeping. Each finished epoch is
checkpointed, so ``resume`` can finish a run that was killed, in the same folder, after
checking that the program and the data are those it started with (:mod:`netdsl.run.fingerprint`);
a lock on the folder (:class:`netdsl.run.runs.RunLock`) keeps two processes out of one folder.

Data-parallel runs (``--distribute``, several processes: :mod:`netdsl.keras.distribute`) go through
the same phases; each process trains on its shard, and only the first process (the writer)
makes and writes the run folder: the others create no folder, checkpoint or status file and
report a fingerprint of their final weights instead.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
import random
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..checking.plan import CheckedModel
from ..errors import NetdslDataError, NetdslError, NetdslTrainingError
from ..keras import distribute as dist
from ..keras.runtime import filtered_native_logs, import_keras
from ..keras.saving import OBJECTS_NAME, objects_json, prestart_reload_check, verify_reload
from ..keras.training import (
    Data,
    StreamData,
    TrainOptions,
    confusion,
    evaluate,
    fit,
    load_data,
    spec_text,
)
from . import fingerprint as fp
from .runs import (
    Checkpoint,
    RunFolder,
    RunLock,
    Stopped,
    by_output,
    create_run_folder,
    process_record,
    read_json,
    signals_stop,
    write_atomic,
    write_data_record,
    write_json,
)

__all__ = ["RunReport", "crash_summary", "resume_data", "resume_run", "run_model", "test_line"]

Echo = Callable[[str], None]
#: short names for the test line of a regression's metrics (Keras's names otherwise)
_METRIC_LABELS = {
    "mean_absolute_error": "MAE",
    "mean_squared_error": "MSE",
    "root_mean_squared_error": "RMSE",
    "mean_absolute_percentage_error": "MAPE",
    "compile_metrics": "accuracy",
}


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


@dataclass
class RunReport:
    """What a run did and where it put things; ``reason`` says what stopped a stopped run.
    ``folder`` is None in the processes of a multi-process run other than the first, which
    write nothing; ``distributed``: this process, the devices and a fingerprint of the weights."""

    folder: Path | None
    status: str
    epochs_done: int
    wall_seconds: float
    test: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    resumed_from: int | None = None
    distributed: dict[str, Any] | None = None

    @property
    def stopped(self) -> str | None:
        """None for a finished run, else why it stopped (``interrupt``, ``SIGTERM``)."""
        return None if self.status == "finished" else (self.reason or self.status)

    def text(self) -> str:
        lines = []
        if self.resumed_from is not None:
            lines.append(f"resumed after epoch {self.resumed_from}")
        if self.test:
            lines.append(test_line(self.test))
        if self.status == "stopped":
            lines.append(self._stopped_line())
        lines.append(f"{self.epochs_done} epoch(s) in {_duration(self.wall_seconds)}")
        if self.distributed:
            d = self.distributed
            lines.append(
                f"process {d['process_id']} of {d['num_processes']}, {len(d['devices'])} "
                f"device(s): weights {d['weights']}"
            )
        lines.append(
            f"saved in {self.folder}/"
            if self.folder is not None
            else "the run folder is written by process 0"
        )
        return "\n".join(lines)

    def _stopped_line(self) -> str:
        """What a stop kept, and what ``--resume`` of the folder will do: finish the run from
        its last finished epoch, or start it again from epoch 1 when none had finished."""
        why = "interrupted" if self.reason == "interrupt" else f"stopped by {self.reason}"
        again = f"netdsl run --resume {self.folder}/"
        if self.epochs_done == 0:
            return (
                f"{why} before the first epoch finished: no epoch is saved yet ({again} "
                "starts the run again from epoch 1)"
            )
        return (
            f"{why} after {self.epochs_done} finished epoch(s); they are saved ({again} "
            "finishes the run)"
        )


def test_line(test: Mapping[str, float]) -> str:
    """The test results in a line: the loss, then every metric (accuracies as percentages,
    errors such as a regression's MAE as numbers)."""
    parts = [f"test loss {test['loss']:.4f}"] if "loss" in test else []
    for key, value in test.items():
        if key == "loss":
            continue
        label = _METRIC_LABELS.get(key, key)
        shown = f"{100 * value:.2f}%" if "accuracy" in label else f"{value:.4g}"
        parts.append(f"test {label} {shown}")
    return " · ".join(parts)


def _duration(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:.0f} s"


def _sharded(ctx: Any, data: Any) -> Any:
    """This process's part of the data; streamed data cannot be split between processes yet."""
    if isinstance(data, StreamData):
        if ctx.distributed:
            raise NetdslTrainingError(
                "a dataset read as a stream (csv, images) cannot be shared out over several "
                "devices or processes yet",
                code="NDL322",
                help="train it without --distribute and the multi-process options",
            )
        return data
    return ctx.shard(data)


def _stem(model: CheckedModel) -> str:
    return _name(model.program.filename)


def _name(filename: str | None) -> str:
    """What a run is called (its folder, its header): the program file's stem, else ``model``."""
    return Path(filename).stem if filename not in (None, "<stdin>") else "model"


class _Tensorboard:
    """Per-epoch scalars for ``tensorboard --logdir``: ``train/`` and ``validation/`` writers,
    the same tag in both so TensorBoard overlays them. Written with TensorFlow's own summary
    op and the scalars plugin's metadata, so the ``tensorboard`` package is needed only to view."""

    def __init__(self, folder: Path) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2
        from tensorflow.python.ops import summary_ops_v2

        self.tf = tf
        self.op = summary_ops_v2.write
        self.metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        ).SerializeToString()
        self.writers = {
            part: tf.summary.create_file_writer(str(folder / "tensorboard" / part))
            for part in ("train", "validation")
        }

    def write(self, epoch: int, row: dict[str, float]) -> None:
        for key, value in row.items():
            part, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self.writers[part].as_default():
                self.op(
                    tag,
                    self.tf.constant(value, self.tf.float32),
                    step=epoch,
                    metadata=self.metadata,
                )
        for w in self.writers.values():
            w.flush()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


@dataclass(frozen=True)
class _Job:
    """What a run was asked to do, fixed for its whole life: the model, how to report, how
    and where it trains, what its header calls it, and whether its folder is new."""

    model: CheckedModel
    quiet: bool
    echo: Echo
    options: TrainOptions
    ctx: dist.Context
    name: str
    fresh: bool


class _Progress:
    """A run in its folder: the phase it is in, its finished epochs, its wall clock, the Keras
    model once fitted. Each change is written to ``metrics.json`` as it happens."""

    def __init__(self, folder: RunFolder, checkpoint: Checkpoint | None) -> None:
        self.folder = folder
        self.checkpoint = checkpoint
        self.history: list[dict[str, float]] = list(checkpoint.history) if checkpoint else []
        self.phase = "fitting"
        self.net: Any = None
        self.saved = False
        self.bookkeeping = 0.0  # seconds spent on checkpoints, history files and TensorBoard logs
        self.tensorboard: _Tensorboard | None = None
        self.started = time.perf_counter()
        self.before = float(folder.meta.get("wall_seconds_before", 0.0))

    @property
    def resumed_from(self) -> int | None:
        return self.checkpoint.epoch if self.checkpoint else None

    def wall(self) -> float:
        return round(self.before + time.perf_counter() - self.started, 3)

    def enter(self, phase: str) -> None:
        """Start ``phase``; ``metrics.json`` says so."""
        self.phase = phase
        self.folder.set_status(
            "running", phase=phase, epochs_completed=len(self.history), wall_seconds=self.wall()
        )

    def on_epoch(
        self, done: int, model_arrays: list[np.ndarray], optimizer_arrays: list[np.ndarray]
    ) -> None:
        """A good epoch ended (:func:`netdsl.keras.training.fit`): checkpoint it, log it."""
        t0 = time.perf_counter()
        seed = int(self.folder.meta["shuffle_seed"])
        self.folder.save_checkpoint(
            Checkpoint(done, model_arrays, optimizer_arrays, list(self.history), seed)
        )
        self.folder.write_history(self.history)
        if self.tensorboard is not None:
            self.tensorboard.write(done, self.history[-1])
        self.folder.set_status(
            "running", phase="fitting", epochs_completed=done, wall_seconds=self.wall()
        )
        self.bookkeeping += time.perf_counter() - t0

    def save_model(self) -> None:
        """``model.keras``, through a temporary name, then loaded back to prove it loads."""
        final = self.folder.path / "model.keras"
        tmp = self.folder.path / ".model.partial.keras"  # Keras insists on the .keras suffix
        try:
            self.net.save(tmp)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.saved = True
        # never report "saved" for a file that does not load back in a fresh process
        self.folder.meta["reload_check_seconds"] = round(verify_reload(final, self.net), 3)

    def finish(self, status: str, **fields: Any) -> None:
        """The run's last word in ``metrics.json``."""
        if self.history:
            self.folder.write_history(self.history)  # a signal may have cut the last write short
        extra = {
            "epochs_completed": len(self.history),
            "wall_seconds": self.wall(),
            "run_folder_seconds": round(self.bookkeeping, 4),
        }
        self.folder.set_status(status, **{**extra, **fields})

    def record_failure(self, status: str, err: NetdslError) -> None:
        """``finish`` with the error; a disk still full does not hide the error itself."""
        try:
            self.finish(status, phase=self.phase, error=err.message, code=err.code)
        except OSError:
            pass

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None


def run_model(
    model: CheckedModel,
    *,
    data: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "runs",
    quiet: bool = False,
    echo: Echo = _stderr,
    options: TrainOptions | None = None,
) -> RunReport:
    """Load data, build, train, evaluate, save into a new run folder: ``netdsl run``. In a
    multi-process run every process trains on its shard and only the first writes the folder."""
    options = options or TrainOptions()
    ctx = _context(model, options)  # joins the other processes before anything is written
    options = ctx.adjust(options)  # what actually runs is what metrics.json records
    seed = model.settings.seed
    if seed is None and ctx.seed is not None:
        seed = ctx.seed  # drawn by process 0 and shared: every process shuffles alike
    if not ctx.writer:
        return _execute_worker(model, ctx, data, options, seed)
    path = _data_path(model, data)
    arrays = _load(model, path, ctx)  # before the folder: data that cannot be read leaves none
    with _released_on_error(None, ctx):
        folder = RunFolder(create_run_folder(out_dir, _stem(model)))
        lock = _locked(folder)
    folder.meta = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "file": model.program.filename,
        "params": model.total_params,
        "settings": model.settings.to_dict(),
        "options": options.to_dict(),
        "epochs_planned": model.settings.epochs,
        "shuffle_seed": seed if seed is not None else random.randrange(2**31),
        "process": process_record(),
        **({"distributed": ctx.to_dict()} if ctx.distributed else {}),
    }
    job = _Job(model, quiet, echo, options, ctx, _stem(model), fresh=True)
    with _released_on_error(lock, ctx):
        write_atomic(folder.path / "model.net", spec_text(model))
        fp.record(folder.path, fp.program_print(model), fp.data_print(arrays, path))
        write_data_record(folder.path, model, arrays, path)
    return _execute(job, folder, arrays, None, lock)


def _data_path(model: CheckedModel, data: str | os.PathLike[str] | None) -> str | None:
    """Where the run reads its data, as ``data.json`` records it: the dataset's own ``path``
    (made absolute by ``check``, against the program's folder), else ``--data``, absolute."""
    own = model.dataset.kwargs.get("path")
    return own if isinstance(own, str) else _absolute(data)


def _absolute(data: str | os.PathLike[str] | None) -> str | None:
    """``--data`` as an absolute path: what ``data.json`` records, so a resume from another
    folder finds the data where this run found it."""
    return os.path.abspath(os.path.expanduser(os.fspath(data))) if data is not None else None


def _locked(folder: RunFolder, holder: Mapping[str, Any] | None = None) -> RunLock:
    lock = RunLock(folder.path)
    lock.acquire(holder)
    return lock


@contextlib.contextmanager
def _released_on_error(lock: RunLock | None, ctx: dist.Context | None = None) -> Iterator[None]:
    """Let go of the folder's lock (and close a one-process context) if what the block does
    fails before the phases take them over."""
    try:
        yield
    except BaseException:
        if ctx is not None and ctx.num_processes == 1:
            _close(ctx)
        if lock is not None:
            lock.release()
        raise


def _context(model: CheckedModel, options: TrainOptions) -> dist.Context:
    """Keras on the model's backend, and where this process trains (:func:`netdsl.keras.distribute.start`)."""
    keras = import_keras(model.settings.backend)
    return dist.start(
        keras.backend.backend(), distribute=options.distribute, cluster=options.cluster
    )


def _close(ctx: dist.Context) -> None:
    """Training and evaluation are over in this process (see :meth:`netdsl.keras.distribute.Context.close`)."""
    if not ctx.closed:
        ctx.close()


def _load(model: CheckedModel, data: str | None, ctx: dist.Context) -> Data | StreamData:
    """This process's data; SIGTERM stops the loading as Ctrl-C does. A context of one process
    is closed when loading fails (no phase will close it)."""
    try:
        with signals_stop(), filtered_native_logs():
            return _sharded(ctx, load_data(model, data))  # type: ignore[no-any-return]
    except BaseException:
        if ctx.num_processes == 1:
            _close(ctx)
        raise


def _execute_worker(
    model: CheckedModel,
    ctx: dist.Context,
    data: str | os.PathLike[str] | None,
    options: TrainOptions,
    seed: int | None,
) -> RunReport:
    """A process of a multi-process run other than the first: train on its shard and evaluate
    with the others, write nothing, and report its weights' fingerprint."""
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    with signals_stop():
        try:
            arrays = _sharded(ctx, load_data(model, data))
            result = fit(
                model,
                arrays,
                verbose=0,
                options=options,
                history=history,
                shuffle_seed=seed if seed is not None else 0,
                context=ctx,
            )
        except KeyboardInterrupt as e:
            reason = getattr(e, "reason", "interrupt")
            return RunReport(
                None, "stopped", len(history), time.perf_counter() - started, {}, reason
            )
        if result.stopped:
            return RunReport(
                None, "stopped", len(history), time.perf_counter() - started, {}, result.stopped
            )
        with ctx.scope():
            test = evaluate(result.net, model, arrays)
        _close(ctx)
    distributed = {**ctx.to_dict(), "weights": dist.fingerprint(result.net.get_weights())}
    return RunReport(
        None, "finished", len(history), time.perf_counter() - started, test, distributed=distributed
    )


# --- resume --------------------------------------------------------------------------------


def resume_run(
    folder_path: str | os.PathLike[str],
    model: CheckedModel,
    *,
    data: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    echo: Echo = _stderr,
    options: TrainOptions | None = None,
    accept_changes: bool = False,
) -> RunReport:
    """Finish a killed or stopped run in its own folder from its newest whole checkpoint
    (``model`` is the folder's ``model.net``, checked). The data is read where the run read it
    (``data.json``) unless ``data`` says where it is now. A program or data that differs from
    what the run started with is refused (``NDL306``, saying what changed) unless
    ``accept_changes``; then the change is recorded in ``fingerprint.json`` and ``data.json``.
    A folder another process is working in is refused."""
    folder = RunFolder(Path(folder_path))
    meta = folder.metrics()
    _check_resumable(folder, meta, options)
    lock = _locked(folder, meta.get("process"))
    with _released_on_error(lock):
        before = read_json(folder.path / fp.FILE)
        program = fp.program_print(model)
        if isinstance(before, dict):
            _refuse_changes(folder, fp.differences(before, program, None), accept_changes)
        options = options or _recorded_options(meta)
        ctx = _context(model, options)
    with _released_on_error(lock, ctx):
        options = ctx.adjust(options)
        path = resume_data(folder.path, data)
        arrays = _resume_load(model, path, ctx, given=data is not None)
        _settle_fingerprint(folder, before, program, fp.data_print(arrays, path), accept_changes)
        checkpoint = _reopen(folder, meta, model, echo)
        if not (folder.path / "data.json").exists():  # killed before it was written
            write_data_record(folder.path, model, arrays, path)
    job = _Job(model, quiet, echo, options, ctx, _name(meta.get("file")), fresh=False)
    return _execute(job, folder, arrays, checkpoint, lock)


def _check_resumable(folder: RunFolder, meta: dict[str, Any], options: TrainOptions | None) -> None:
    """Refuse, before anything is written, a multi-process run or a finished one."""
    before = (meta.get("options") or {}).get("cluster") or {}
    asked = options.cluster if options is not None else None
    if int(before.get("num_processes", 1)) > 1 or (asked is not None and asked.num_processes > 1):
        raise NetdslTrainingError(
            f"the run in {folder.path}/ was trained in several processes; netdsl cannot resume a "
            "multi-process run"
            if before
            else "--resume continues a run in one process; a multi-process run cannot be resumed",
            code="NDL322",
            help="start a new run; a multi-process run keeps its finished epochs' checkpoints in "
            "process 0's run folder, but resuming them across processes is not supported",
        )
    if meta.get("status") == "finished":
        raise NetdslTrainingError(
            f"the run in {folder.path}/ already finished",
            code="NDL306",
            help="start a new run with `netdsl run FILE`",
        )


def _refuse_changes(folder: RunFolder, changed: list[str], accept: bool) -> None:
    """``NDL306`` listing what changed since the run started, unless the change is accepted."""
    if not changed or accept:
        return
    lines = "\n".join(f"  - {line}" for line in changed)
    raise NetdslTrainingError(
        f"the run in {folder.path}/ started with another program or other data; changed since:\n"
        f"{lines}",
        code="NDL306",
        help="resume with the program and data it started with, start a new run, or pass "
        "--accept-changes to finish it anyway (the change is recorded in fingerprint.json)",
    )


def _recorded_options(meta: Mapping[str, Any]) -> TrainOptions:
    """The speed options the run was started with (``metrics.json``)."""
    kept = ("steps_per_execution", "threads", "distribute")
    return TrainOptions(**{k: v for k, v in (meta.get("options") or {}).items() if k in kept})


def resume_data(
    folder: str | os.PathLike[str], data: str | os.PathLike[str] | None = None
) -> str | None:
    """Where a resume reads its data: ``data`` (``--data``) when given, else where the run read
    it (``data.json``'s ``data_path``, absolute), else None (the dataset finds it itself).
    A recorded path that is gone is an ``NDL100`` saying where the run found it."""
    if data is not None:
        return _absolute(data)
    record = read_json(Path(folder) / "data.json")
    path = record.get("data_path") if isinstance(record, dict) else None
    if not isinstance(path, str):
        return None
    if not os.path.exists(path):
        raise NetdslDataError(
            f"the run read its data from {path} (data.json), and nothing is there now",
            help="pass --data PATH to say where the data is now",
        )
    return path


def _resume_load(
    model: CheckedModel, path: str | None, ctx: dist.Context, given: bool
) -> Data | StreamData:
    """The data for a resume; when it cannot be read, the error says where the run read it."""
    try:
        return _load(model, path, ctx)
    except NetdslError as e:
        if not given:
            where = (
                f"the run read its data from {path} (data.json)"
                if path
                else "the run found its data itself (no path in data.json: the dataset's own "
                "argument, environment variable or cache)"
            )
            e.help = (
                e.help + "\n" if e.help else ""
            ) + f"{where}; pass --data PATH to say where it is now"
        raise


def _settle_fingerprint(
    folder: RunFolder, before: Any, program: dict[str, Any], data: dict[str, Any], accept: bool
) -> None:
    """Compare the data too; refuse a change, or record an accepted one (``fingerprint.json``'s
    ``changes``, and ``data.json``'s ``changed_on_resume`` for the data). A folder from before
    fingerprints were recorded gets one now."""
    if not isinstance(before, dict):
        fp.record(folder.path, program, data)
        return
    changed = fp.differences(before, program, data)
    _refuse_changes(folder, changed, accept)
    if not changed:
        return
    fp.accept(folder.path, before, program, data, changed)
    record = read_json(folder.path / "data.json")
    if isinstance(record, dict) and (before.get("data") or {}).get("sha256") != data["sha256"]:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record["changed_on_resume"] = [*record.get("changed_on_resume", []), {**data, "at": now}]
        write_json(folder.path / "data.json", record)


def _reopen(
    folder: RunFolder, meta: dict[str, Any], model: CheckedModel, echo: Echo
) -> Checkpoint | None:
    """The newest whole checkpoint, and the folder's record made ready for the run to go on."""
    checkpoint, skipped = folder.latest_checkpoint()
    for line in skipped:
        echo(f"warning: checkpoint {line}")
    dropped = (
        "status",
        "error",
        "test",
        "wall_seconds",
        "wall_seconds_before",
        "epochs_completed",
        "phase",
        "reason",
        "code",
        "stopped_early",
    )
    folder.meta = {k: v for k, v in meta.items() if k not in dropped}
    folder.meta["wall_seconds_before"] = float(meta.get("wall_seconds") or 0.0)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    folder.meta["resumed"] = [*meta.get("resumed", []), now]
    folder.meta["process"] = process_record()
    if "shuffle_seed" not in folder.meta:
        folder.meta["shuffle_seed"] = (
            checkpoint.shuffle_seed if checkpoint else model.settings.seed or 0
        )
    (folder.path / "STOPPED").unlink(missing_ok=True)
    return checkpoint


# --- the phases ----------------------------------------------------------------------------


def _execute(
    job: _Job,
    folder: RunFolder,
    arrays: Data | StreamData,
    checkpoint: Checkpoint | None,
    lock: RunLock,
) -> RunReport:
    """The phases, with the folder's status kept true whatever happens. A context of one
    process is always closed at the end (a later run in this process may set up another);
    a multi-process one only after a finished run, since an unclosed one makes the process
    leave at once at exit instead of waiting for peers that will never come."""
    run = _Progress(folder, checkpoint)
    try:
        with filtered_native_logs():
            return _phases(job, run, arrays)
    finally:
        if job.ctx.num_processes == 1:
            _close(job.ctx)
        lock.release()


def _phases(job: _Job, run: _Progress, arrays: Data | StreamData) -> RunReport:
    """Fit, evaluate and save; every way out of them recorded in the folder."""
    job.ctx.on_abort(functools.partial(run.record_failure, "failed"))
    with signals_stop():
        try:
            test = _fit_and_test(job, run, arrays)
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Stopped)
            _close(job.ctx)  # the model of the last good epoch is saved locally
            return _stopped(run, getattr(e, "reason", "interrupt"))
        except NetdslError as e:
            raise _failed(job, run, e) from None
        except OSError as e:
            raise _disk_error(run, e) from None
        except Exception as e:  # noqa: BLE001 - a crash is recorded and reported, not a traceback
            raise _crashed(run, e) from None
        finally:
            run.close()
    return _finished(job, run, test)


def _fit_and_test(job: _Job, run: _Progress, arrays: Data | StreamData) -> dict[str, float]:
    """Fit from the checkpoint, evaluate on the test set, save the model; the test results."""
    model, ctx, checkpoint = job.model, job.ctx, run.checkpoint
    # the reload check's fresh interpreter imports Keras while this one trains, and
    # objects.json names what a plain Keras load of model.keras will need
    prestart_reload_check(import_keras().backend.backend())
    write_atomic(run.folder.path / OBJECTS_NAME, objects_json(model))
    run.enter("fitting")
    run.folder.meta.setdefault("versions", _versions())
    _header(job, run, arrays)
    run.tensorboard = _Tensorboard(run.folder.path)
    verbose: int | str = 0 if job.quiet else (1 if sys.stdout.isatty() else 2)
    result = fit(
        model,
        arrays,
        verbose=verbose,
        options=job.options,
        history=run.history,
        initial_epoch=checkpoint.epoch if checkpoint else 0,
        shuffle_seed=int(run.folder.meta["shuffle_seed"]),
        on_epoch=run.on_epoch,
        state=(checkpoint.model, checkpoint.optimizer) if checkpoint else None,
        context=ctx,
    )
    run.net = result.net
    if result.stopped:
        raise Stopped(result.stopped)
    run.enter("evaluating")
    with ctx.scope():
        test = evaluate(run.net, model, arrays)
    _check_finite(test, len(run.history))
    _close(ctx)  # saving is local to this process from here on
    # the confusion matrix of this process's shard alone would mislead: one process only
    matrix = confusion(run.net, model, arrays) if ctx.num_processes == 1 else None
    run.enter("saving")
    if matrix is not None:
        write_atomic(run.folder.path / "confusion.json", _json(matrix))
    run.save_model()
    return test


def _header(job: _Job, run: _Progress, arrays: Data | StreamData) -> None:
    """The line that says what is about to train (its name, a resumed run's included)."""
    if job.quiet:
        return
    model, checkpoint = job.model, run.checkpoint
    epochs = model.settings.epochs
    job.echo(
        f"training {job.name}: {len(model.nodes)} layers, {model.total_params:,} parameters "
        f"on {model.dataset.name} ({arrays.train_size:,} train / {arrays.test_size:,} test), "
        f"{epochs} epoch{'s' * (epochs != 1)}, batch size {model.settings.batch_size}"
        + (f", from epoch {checkpoint.epoch + 1}" if checkpoint else "")
    )
    if job.ctx.distributed:
        job.echo(job.ctx.describe())


def _check_finite(test: Mapping[str, float], epochs: int) -> None:
    """A NaN or infinite test result is the NaN failure (``NDL303``), never a finished run."""
    bad = [k for k, v in test.items() if not math.isfinite(v)]
    if bad:
        raise NetdslTrainingError(
            f"the test {bad[0]} is {test[bad[0]]} after {epochs} epoch(s): the model's output on "
            "the test set is not a number",
            code="NDL303",
            help="check the test data for NaN or infinite values; lower the learning rate if the "
            "training loss grew too; the finished epochs are in the run folder's checkpoints/",
        )


def _finished(job: _Job, run: _Progress, test: dict[str, float]) -> RunReport:
    ctx = job.ctx
    distributed = (
        {**ctx.to_dict(), "weights": dist.fingerprint(run.net.get_weights())}
        if ctx.distributed
        else None
    )
    outputs = [o.name for o in job.model.outputs]  # a graph's: its results by output too
    run.finish(
        "finished",
        test=test,
        **({"outputs": by_output(test, outputs)} if outputs else {}),
        stopped_early=len(run.history) < job.model.settings.epochs,
        **({"distributed": distributed} if distributed else {}),
    )
    return RunReport(
        run.folder.path,
        "finished",
        len(run.history),
        run.wall(),
        test,
        resumed_from=run.resumed_from,
        distributed=distributed,
    )


def _stopped(run: _Progress, reason: str) -> RunReport:
    """Ctrl-C or SIGTERM: keep what is finished (the model of the last good epoch), say STOPPED."""
    if run.net is not None and run.history and not run.saved:
        try:
            run.save_model()
        except (OSError, KeyboardInterrupt):
            pass  # the checkpoints still hold every finished epoch
    run.finish("stopped", phase=run.phase, reason=reason)
    write_atomic(
        run.folder.path / "STOPPED",
        f"stopped ({reason}) while {run.phase}, after {len(run.history)} finished epoch(s)\n",
    )
    return RunReport(
        run.folder.path,
        "stopped",
        len(run.history),
        run.wall(),
        {},
        reason,
        resumed_from=run.resumed_from,
    )


def _failed(job: _Job, run: _Progress, err: NetdslError) -> NetdslError:
    """A netdsl error: recorded as ``failed``; a new run that finished no epoch and did not
    learn a NaN leaves nothing worth keeping, so its folder goes."""
    if job.fresh and not run.history and err.code != "NDL303":
        _remove(run.folder)
        return err
    run.finish("failed", phase=run.phase, error=err.message, code=err.code)
    where = f"the run folder {run.folder.path}/ records it"
    err.help = (err.help + "; " if err.help else "") + where
    return err


def _remove(folder: RunFolder) -> None:
    """Take away a new run's folder (every file in it was written by this run)."""
    shutil.rmtree(folder.path, ignore_errors=True)


def _disk_error(run: _Progress, e: OSError) -> NetdslTrainingError:
    err = NetdslTrainingError(
        f"{run.phase} failed: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""),
        code="NDL305",
        help=f"every finished epoch is in {run.folder.path}/checkpoints/; "
        "free some space, then "
        f"`netdsl run --resume {run.folder.path}/`",
    )
    run.record_failure("failed", err)
    return err


def _crashed(run: _Progress, e: Exception) -> NetdslTrainingError:
    what = f"{type(e).__name__}: {crash_summary(e)}"
    err = NetdslTrainingError(
        f"the run crashed while {run.phase}: {what}",
        code="NDL304",
        help=f"the run folder {run.folder.path}/ records it; run with -v for the traceback",
    )
    err.traceback = _traceback()  # type: ignore[attr-defined]
    run.record_failure("crashed", err)
    return err


def crash_summary(error: BaseException, limit: int = 600) -> str:
    """What a crash says, in a line: for a TensorFlow graph error, its last message and the node
    (its text is mostly the Python stack where the graph was built, which ``-v`` and the run
    folder keep); otherwise the message with its whitespace folded, at most ``limit`` characters."""
    text = str(error)
    node = re.search(r"Detected at node '?([^\s']+?)'? defined at", text)
    if node is not None:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        said = [
            line
            for line in lines
            if not line.startswith(("File ", "Detected at node", "Graph execution error", "[["))
        ]
        message = re.sub(r"\s*\[\[\{\{node [^}]*\}\}\]\].*$", "", said[-1] if said else lines[-1])
        return f"{message} (at node {node.group(1)})"
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def _json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2) + "\n"


def _traceback() -> str:
    import traceback

    return traceback.format_exc()


def _versions() -> dict[str, str]:
    keras = import_keras()
    backend = keras.backend.backend()
    engine = __import__(backend)
    return {
        "netdsl": __version__,
        "keras": keras.__version__,
        "backend": backend,
        backend: engine.__version__,
        "python": platform.python_version(),
    }
