"""``netdsl run`` as a library call: the phases of a run (loading, building, fitting,
evaluating, saving) around its run folder (:mod:`netdsl.run.runs`).

Whatever happens after the folder is made, ``metrics.json`` says so: ``finished``; ``stopped``
(Ctrl-C or SIGTERM, in any phase: every finished epoch is kept, ``STOPPED`` is written);
``failed`` (a netdsl error: NaN loss, bad data, a full disk) or ``crashed`` (anything else),
with the error. Each finished epoch is checkpointed, so ``resume`` can finish a run that was
killed, in the same folder.

Data-parallel runs (``--distribute``, several processes: :mod:`netdsl.keras.distribute`) go through
the same phases; each process trains on its shard, and only the first process (the writer)
makes and writes the run folder: the others create no folder, checkpoint or status file and
report a fingerprint of their final weights instead.
"""

from __future__ import annotations

import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..checking.plan import CheckedModel
from ..errors import NetdslError, NetdslTrainingError
from ..keras import distribute as dist
from ..keras.runtime import filtered_native_logs, import_keras
from ..keras.saving import verify_reload
from ..keras.training import (
    StreamData,
    TrainOptions,
    confusion,
    evaluate,
    fit,
    load_data,
    spec_text,
)
from .runs import (
    Checkpoint,
    RunFolder,
    Stopped,
    create_run_folder,
    signals_stop,
    write_atomic,
    write_data_record,
)

__all__ = ["RunReport", "crash_summary", "resume_run", "run_model"]


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
            acc = self.test.get("accuracy", self.test.get("compile_metrics"))
            parts = [f"test loss {self.test['loss']:.4f}"]
            if acc is not None:
                parts.append(f"test accuracy {100 * acc:.2f}%")
            lines.append(" · ".join(parts))
        if self.status == "stopped":
            why = "interrupted" if self.reason == "interrupt" else f"stopped by {self.reason}"
            lines.append(f"{why} after {self.epochs_done} finished epoch(s); they are saved "
                         f"(netdsl run --resume {self.folder}/ finishes the run)")
        lines.append(f"{self.epochs_done} epoch(s) in {_duration(self.wall_seconds)}")
        if self.distributed:
            d = self.distributed
            lines.append(f"process {d['process_id']} of {d['num_processes']}, {len(d['devices'])} "
                         f"device(s): weights {d['weights']}")
        lines.append(f"saved in {self.folder}/" if self.folder is not None
                     else "the run folder is written by process 0")
        return "\n".join(lines)


def _duration(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:.0f} s"


def _sharded(ctx: Any, data: Any) -> Any:
    """This process's part of the data; streamed data cannot be split between processes yet."""
    if isinstance(data, StreamData):
        if ctx.distributed:
            raise NetdslTrainingError(
                "a dataset read as a stream (csv, images) cannot be shared out over several "
                "devices or processes yet", code="NDL322",
                help="train it without --distribute and the multi-process options")
        return data
    return ctx.shard(data)


def _stem(model: CheckedModel) -> str:
    name = model.program.filename
    return Path(name).stem if name not in (None, "<stdin>") else "model"


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
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")).SerializeToString()
        self.writers = {part: tf.summary.create_file_writer(str(folder / "tensorboard" / part))
                        for part in ("train", "validation")}

    def write(self, epoch: int, row: dict[str, float]) -> None:
        for key, value in row.items():
            part, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self.writers[part].as_default():
                self.op(tag, self.tf.constant(value, self.tf.float32), step=epoch, metadata=self.metadata)
        for w in self.writers.values():
            w.flush()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def run_model(model: CheckedModel, *, data: str | os.PathLike[str] | None = None,
              out_dir: str | os.PathLike[str] = "runs", quiet: bool = False,
              echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
              options: TrainOptions | None = None) -> RunReport:
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
    folder = RunFolder(create_run_folder(out_dir, _stem(model)))
    write_atomic(folder.path / "model.net", spec_text(model))
    folder.meta = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "file": model.program.filename, "params": model.total_params,
        "settings": model.settings.to_dict(), "options": options.to_dict(),
        "epochs_planned": model.settings.epochs,
        "shuffle_seed": seed if seed is not None else random.randrange(2**31),
        **({"distributed": ctx.to_dict()} if ctx.distributed else {}),
    }
    return _execute(model, folder, data, quiet, echo, options, None, ctx)


def _context(model: CheckedModel, options: TrainOptions) -> dist.Context:
    """Keras on the model's backend, and where this process trains (:func:`netdsl.keras.distribute.start`)."""
    keras = import_keras(model.settings.backend)
    return dist.start(keras.backend.backend(), distribute=options.distribute, cluster=options.cluster)


def _close(ctx: dist.Context) -> None:
    """Training and evaluation are over in this process (see :meth:`netdsl.keras.distribute.Context.close`)."""
    if not ctx.closed:
        ctx.close()


def _execute_worker(model: CheckedModel, ctx: dist.Context, data: str | os.PathLike[str] | None,
                    options: TrainOptions, seed: int | None) -> RunReport:
    """A process of a multi-process run other than the first: train on its shard and evaluate
    with the others, write nothing, and report its weights' fingerprint."""
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    with signals_stop():
        try:
            arrays = _sharded(ctx, load_data(model, data))
            result = fit(model, arrays, verbose=0, options=options, history=history,
                         shuffle_seed=seed if seed is not None else 0, context=ctx)
        except KeyboardInterrupt:
            return RunReport(None, "stopped", len(history), time.perf_counter() - started, {}, "interrupt")
        if result.stopped:
            return RunReport(None, "stopped", len(history), time.perf_counter() - started, {}, result.stopped)
        with ctx.scope():
            test = evaluate(result.net, model, arrays)
        _close(ctx)
    distributed = {**ctx.to_dict(), "weights": dist.fingerprint(result.net.get_weights())}
    return RunReport(None, "finished", len(history), time.perf_counter() - started, test,
                     distributed=distributed)


def resume_run(folder_path: str | os.PathLike[str], model: CheckedModel, *,
               data: str | os.PathLike[str] | None = None, quiet: bool = False,
               echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
               options: TrainOptions | None = None) -> RunReport:
    """Finish a killed or stopped run in its own folder from its newest whole checkpoint
    (``model`` is the folder's ``model.net``, checked)."""
    folder = RunFolder(Path(folder_path))
    meta = folder.metrics()
    before = (meta.get("options") or {}).get("cluster") or {}
    if int(before.get("num_processes", 1)) > 1 or (options is not None and options.cluster is not None
                                                  and options.cluster.num_processes > 1):
        raise NetdslTrainingError(
            f"the run in {folder.path}/ was trained in several processes; netdsl cannot resume a "
            "multi-process run" if before else "--resume continues a run in one process; a "
            "multi-process run cannot be resumed", code="NDL322",
            help="start a new run; a multi-process run keeps its finished epochs' checkpoints in "
                 "process 0's run folder, but resuming them across processes is not supported")
    if meta.get("status") == "finished":
        raise NetdslTrainingError(f"the run in {folder.path}/ already finished", code="NDL306",
                                  help="start a new run with `netdsl run FILE`")
    checkpoint, skipped = folder.latest_checkpoint()
    for line in skipped:
        echo(f"warning: checkpoint {line}")
    meta.pop("status", None)
    meta.pop("error", None)
    folder.meta = {k: v for k, v in meta.items()
                   if k not in ("test", "wall_seconds", "wall_seconds_before", "epochs_completed", "phase",
                                "reason", "code", "stopped_early")}
    folder.meta["wall_seconds_before"] = float(meta.get("wall_seconds") or 0.0)
    folder.meta["resumed"] = [*meta.get("resumed", []), datetime.now(timezone.utc).isoformat(timespec="seconds")]
    if "shuffle_seed" not in folder.meta:
        folder.meta["shuffle_seed"] = checkpoint.shuffle_seed if checkpoint else (model.settings.seed or 0)
    options = options or TrainOptions(**{k: v for k, v in (meta.get("options") or {}).items()
                                         if k in ("steps_per_execution", "threads", "distribute")})
    ctx = _context(model, options)
    options = ctx.adjust(options)
    (folder.path / "STOPPED").unlink(missing_ok=True)
    return _execute(model, folder, data, quiet, echo, options, checkpoint, ctx)


def _execute(model: CheckedModel, folder: RunFolder, data: str | os.PathLike[str] | None, quiet: bool,
             echo: Callable[[str], None], options: TrainOptions, checkpoint: Checkpoint | None,
             ctx: dist.Context) -> RunReport:
    """The phases, with the folder's status kept true whatever happens. A context of one
    process is always closed at the end (a later run in this process may set up another);
    a multi-process one only after a finished run, since an unclosed one makes the process
    leave at once at exit instead of waiting for peers that will never come."""
    try:
        with filtered_native_logs():
            return _phases(model, folder, data, quiet, echo, options, checkpoint, ctx)
    finally:
        if ctx.num_processes == 1:
            _close(ctx)


def _phases(model: CheckedModel, folder: RunFolder, data: str | os.PathLike[str] | None, quiet: bool,
            echo: Callable[[str], None], options: TrainOptions, checkpoint: Checkpoint | None,
            ctx: dist.Context) -> RunReport:
    """:func:`_execute`'s body."""
    started = time.perf_counter()
    before = float(folder.meta.get("wall_seconds_before", 0.0))
    history: list[dict[str, float]] = list(checkpoint.history) if checkpoint else []
    phase = "loading"
    tensorboard: _Tensorboard | None = None
    folder.set_status("running", phase=phase, epochs_completed=len(history))
    net: Any = None
    saved = False

    def wall() -> float:
        return round(before + time.perf_counter() - started, 3)

    bookkeeping = [0.0]  # seconds spent on checkpoints, history files and TensorBoard logs

    def on_epoch(done: int, model_arrays: list[np.ndarray], optimizer_arrays: list[np.ndarray]) -> None:
        t0 = time.perf_counter()
        folder.save_checkpoint(Checkpoint(done, model_arrays, optimizer_arrays, list(history),
                                          int(folder.meta["shuffle_seed"])))
        folder.write_history(history)
        if tensorboard is not None:
            tensorboard.write(done, history[-1])
        folder.set_status("running", phase="fitting", epochs_completed=done, wall_seconds=wall())
        bookkeeping[0] += time.perf_counter() - t0

    def save_model() -> None:
        nonlocal saved
        final = folder.path / "model.keras"
        tmp = folder.path / ".model.partial.keras"  # Keras insists on the .keras suffix
        try:
            net.save(tmp)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        saved = True
        verify_reload(final, net)  # never report "saved" for a file that does not load back

    def finish(status: str, **fields: Any) -> None:
        if history:
            folder.write_history(history)  # a signal may have cut the last epoch's write short
        extra = {"epochs_completed": len(history), "wall_seconds": wall(),
                 "run_folder_seconds": round(bookkeeping[0], 4)}
        folder.set_status(status, **{**extra, **fields})

    ctx.on_abort(lambda err: _record_failure(finish, "failed", phase, err))

    with signals_stop():
        try:
            arrays = _sharded(ctx, load_data(model, data))
            write_data_record(folder.path, model, arrays, data)
            folder.meta.setdefault("versions", _versions())
            if not quiet:
                epochs = model.settings.epochs
                echo(f"training {_stem(model)}: {len(model.nodes)} layers, {model.total_params:,} "
                     f"parameters on {model.dataset.name} ({arrays.train_size:,} train / "
                     f"{arrays.test_size:,} test), {epochs} epoch{'s' * (epochs != 1)}, batch size "
                     f"{model.settings.batch_size}" + (f", from epoch {checkpoint.epoch + 1}" if checkpoint else ""))
                if ctx.distributed:
                    echo(ctx.describe())
            phase = "fitting"
            folder.set_status("running", phase=phase, epochs_completed=len(history), wall_seconds=wall())
            tensorboard = _Tensorboard(folder.path)
            verbose: int | str = 0 if quiet else (1 if sys.stdout.isatty() else 2)
            result = fit(model, arrays, verbose=verbose, options=options, history=history,
                         initial_epoch=checkpoint.epoch if checkpoint else 0,
                         shuffle_seed=int(folder.meta["shuffle_seed"]), on_epoch=on_epoch,
                         state=(checkpoint.model, checkpoint.optimizer) if checkpoint else None,
                         context=ctx)
            net = result.net
            if result.stopped:
                raise Stopped(result.stopped)
            phase = "evaluating"
            folder.set_status("running", phase=phase, epochs_completed=len(history), wall_seconds=wall())
            with ctx.scope():
                test = evaluate(net, model, arrays)
            _close(ctx)  # saving is local to this process from here on
            # the confusion matrix of this process's shard alone would mislead: one process only
            matrix = confusion(net, model, arrays) if ctx.num_processes == 1 else None
            phase = "saving"
            if matrix is not None:
                write_atomic(folder.path / "confusion.json", _json(matrix))
            save_model()
        except Stopped as e:
            _close(ctx)  # the model of the last good epoch is saved locally
            return _stopped(folder, e.reason, phase, history, net, saved, save_model, finish, wall(), checkpoint)
        except KeyboardInterrupt:
            _close(ctx)
            return _stopped(folder, "interrupt", phase, history, net, saved, save_model, finish, wall(), checkpoint)
        except NetdslError as e:
            finish("failed", phase=phase, error=e.message, code=e.code)
            e.help = (e.help + "; " if e.help else "") + f"the run folder {folder.path}/ records it"
            raise
        except OSError as e:
            err = NetdslTrainingError(f"{phase} failed: {e.strerror or e}"
                                      + (f": {e.filename}" if e.filename else ""), code="NDL305",
                                      help=f"every finished epoch is in {folder.path}/checkpoints/; "
                                           f"free some space, then `netdsl run --resume {folder.path}/`")
            _record_failure(finish, "failed", phase, err)
            raise err from None
        except Exception as e:  # noqa: BLE001 - a crash is recorded and reported, not a traceback
            err = NetdslTrainingError(f"the run crashed while {phase}: {type(e).__name__}: {crash_summary(e)}",
                                      code="NDL304", help=f"the run folder {folder.path}/ records it; "
                                      "run with -v for the traceback")
            err.traceback = _traceback()  # type: ignore[attr-defined]
            _record_failure(finish, "crashed", phase, err)
            raise err from None
        finally:
            if tensorboard is not None:
                tensorboard.close()
    distributed = ({**ctx.to_dict(), "weights": dist.fingerprint(net.get_weights())}
                   if ctx.distributed else None)
    finish("finished", test=test, stopped_early=len(history) < model.settings.epochs,
           **({"distributed": distributed} if distributed else {}))
    return RunReport(folder.path, "finished", len(history), wall(), test,
                     resumed_from=checkpoint.epoch if checkpoint else None, distributed=distributed)


def crash_summary(error: BaseException, limit: int = 600) -> str:
    """What a crash says, in a line: for a TensorFlow graph error, its last message and the node
    (its text is mostly the Python stack where the graph was built, which ``-v`` and the run
    folder keep); otherwise the message with its whitespace folded, at most ``limit`` characters."""
    text = str(error)
    node = re.search(r"Detected at node '?([^\s']+?)'? defined at", text)
    if node is not None:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        said = [line for line in lines
                if not line.startswith(("File ", "Detected at node", "Graph execution error", "[["))]
        message = re.sub(r"\s*\[\[\{\{node [^}]*\}\}\]\].*$", "", said[-1] if said else lines[-1])
        return f"{message} (at node {node.group(1)})"
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[:limit - 1] + "…"


def _record_failure(finish: Callable[..., None], status: str, phase: str, err: NetdslError) -> None:
    try:
        finish(status, phase=phase, error=err.message, code=err.code)
    except OSError:  # the disk may still be full: the error is still reported
        pass


def _stopped(folder: RunFolder, reason: str, phase: str, history: list[dict[str, float]], net: Any,
             saved: bool, save_model: Callable[[], None], finish: Callable[..., None], wall: float,
             checkpoint: Checkpoint | None) -> RunReport:
    """Ctrl-C or SIGTERM: keep what is finished (the model of the last good epoch), say STOPPED."""
    if net is not None and history and not saved:
        try:
            save_model()
        except (OSError, KeyboardInterrupt):
            pass  # the checkpoints still hold every finished epoch
    finish("stopped", phase=phase, reason=reason)
    write_atomic(folder.path / "STOPPED", f"stopped ({reason}) while {phase}, after {len(history)} "
                                          f"finished epoch(s)\n")
    return RunReport(folder.path, "stopped", len(history), wall, {}, reason,
                     resumed_from=checkpoint.epoch if checkpoint else None)


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
    return {"netdsl": __version__, "keras": keras.__version__, "backend": backend,
            backend: engine.__version__, "python": platform.python_version()}
