"""Train, evaluate and save: what ``netdsl run`` does, as library calls.

TensorFlow is imported here (through :func:`netdsl.compiler.import_keras`) and nowhere on the
parse/check path. A run folder is always new; Ctrl-C keeps the finished epochs; a NaN loss
stops training with an error instead of saving a garbage model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from . import __version__
from . import distribute as dist
from .compiler import build, import_keras
from .components import DataRequest, Dataset
from .errors import NetdslDataError, NetdslError, NetdslPluginError, NetdslTrainingError
from .formatter import format as format_program
from .graph import CheckedModel

__all__ = ["Data", "RunReport", "TrainOptions", "load_data", "train", "evaluate", "run_model",
           "spec_text", "DEFAULT_STEPS_PER_EXECUTION"]

#: batches per call into the compiled train step (Keras's default is 1). Measured on a 2-core
#: CPU (BENCHMARKS.md, 4a): a steady epoch of the seed MLP at batch 32 runs about 2x faster with
#: 16, 4 and 64 gain no more; the weights are bit-identical for the same seed. Models with long
#: steps (the CNN) neither gain nor lose.
DEFAULT_STEPS_PER_EXECUTION = 16


@dataclass(frozen=True)
class TrainOptions:
    """How training runs on this machine, never what it computes (``netdsl run`` options).

    ``steps_per_execution``: batches per call of the compiled step (Keras ``compile``); with a
    seed, the weights are the same for any value. Larger values only make progress bars and
    batch-level callbacks coarser.
    ``jit_compile``: XLA. None is Keras's ``"auto"``, which is off on a CPU-only machine.
    ``threads``: TensorFlow's intra-op threads (inter-op is set to the same number);
    None is TensorFlow's default (every core). Takes effect only before TensorFlow has run an
    op in this process.
    ``distribute``: data-parallel on every local device; ``cluster``: this process's place in a
    multi-process run (JAX backend). See :mod:`netdsl.distribute`.
    """

    steps_per_execution: int = DEFAULT_STEPS_PER_EXECUTION
    jit_compile: bool | None = None
    threads: int | None = None
    distribute: bool = False
    cluster: dist.Cluster | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps_per_execution, int) or self.steps_per_execution < 1:
            raise NetdslTrainingError(
                f"steps_per_execution must be an integer >= 1, got {self.steps_per_execution!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise NetdslTrainingError(f"threads must be an integer >= 1, got {self.threads!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"steps_per_execution": self.steps_per_execution,
                "jit_compile": "auto" if self.jit_compile is None else self.jit_compile,
                "threads": self.threads, "distribute": self.distribute,
                **({"cluster": dataclasses.asdict(self.cluster)} if self.cluster else {})}


class Data(NamedTuple):
    """One dataset ready for Keras: x shaped like the model input, y encoded for its loss."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(model: CheckedModel, data: str | os.PathLike[str] | None = None) -> Data:
    """Load the model's dataset and encode its labels for the loss. ``data`` is the path given
    with ``--data`` (the dataset's own ``path`` argument wins)."""
    ref = model.dataset
    component = ref.component
    if not isinstance(component, Dataset):
        raise NetdslDataError(f"dataset `{ref.name}` is not available")
    path = ref.kwargs.get("path") or (os.fspath(data) if data is not None else None)
    request = DataRequest(component.name, ref.kwargs, path, component.env, model.input_shape)
    try:
        arrays = component.load(request, model.data)
    except NetdslError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's loader bug is named, not a traceback
        raise NetdslPluginError(
            f"dataset `{ref.name}` failed to load: {type(exc).__name__}: {exc}", code="NDL205") from None
    if not isinstance(arrays, (tuple, list)) or len(arrays) != 4:
        raise NetdslPluginError(f"dataset `{ref.name}` returned {type(arrays).__name__}, not "
                                "(x_train, y_train, x_test, y_test)", code="NDL205")
    x_train, y_train, x_test, y_test = (np.asarray(a) for a in arrays)
    for x, y, split in ((x_train, y_train, "training"), (x_test, y_test, "test")):
        if len(x) != len(y):
            raise NetdslPluginError(f"dataset `{ref.name}` returned {len(x):,} {split} examples but "
                                    f"{len(y):,} labels", code="NDL205")
    target = model.data.target
    return Data(_shape(x_train, model.input_shape), encode_labels(y_train, target.num_classes, model.labels),
                _shape(x_test, model.input_shape), encode_labels(y_test, target.num_classes, model.labels))


def encode_labels(y: np.ndarray, num_classes: int, labels: str) -> np.ndarray:
    """Class ids as one-hot float32 rows (``labels="categorical"``) or int32 ids (``"sparse"``);
    any other target (binary, regression) as float32 values."""
    y = np.asarray(y)
    if labels not in ("categorical", "sparse"):
        return y.astype(np.float32)
    if y.size and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise NetdslDataError(
            f"labels run {int(y.min())}..{int(y.max())} but the model has {num_classes} classes")
    if labels == "categorical":
        return np.eye(num_classes, dtype=np.float32)[y.astype(np.int64)]
    return y.astype(np.int32)


def _shape(x: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    if tuple(x.shape[1:]) == tuple(input_shape):
        return x
    if int(np.prod(x.shape[1:])) != int(np.prod(input_shape)):
        raise NetdslDataError(
            f"the data has examples of shape {'x'.join(map(str, x.shape[1:]))}, which cannot be "
            f"the model input {'x'.join(map(str, input_shape))}",
            help="remove the `input:` setting or give one with the same number of values")
    return x.reshape((len(x), *input_shape))


class _Recorder:
    """Keras callback (made lazily): per-epoch logs, the last good weights, NaN detection."""

    def __new__(cls, keras: Any) -> Any:
        class Recorder(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.history: list[dict[str, float]] = []
                self.good_weights: list[Any] | None = None
                self.nan_epoch: int | None = None

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                row = {k: float(v) for k, v in (logs or {}).items()}
                self.history.append(row)
                if not math.isfinite(row.get("loss", 0.0)):
                    self.nan_epoch = epoch + 1
                    self.model.stop_training = True
                else:
                    self.good_weights = self.model.get_weights()

        return Recorder()


def seed_everything(seed: int | None) -> None:
    """Same seed, same weights on this machine: seeds Python, NumPy and TF, deterministic ops."""
    if seed is None:
        return
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf  # noqa: PLC0415

    tf.config.experimental.enable_op_determinism()


def set_threads(threads: int | None) -> None:
    """TensorFlow's thread pools (intra- and inter-op) to ``threads``; None leaves its default.

    TensorFlow fixes its pools when it runs its first op; asking for another size after that
    warns and keeps the pools it has.
    """
    if threads is None:
        return
    if import_keras().backend.backend() != "tensorflow":
        raise NetdslTrainingError("--threads sets TensorFlow's thread pools; it does not apply to "
                                  "the jax backend", help="leave --threads out with --backend jax")
    import tensorflow as tf  # noqa: PLC0415

    threading = tf.config.threading
    if (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == (threads, threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        import warnings  # noqa: PLC0415

        warnings.warn(f"TensorFlow is already running in this process; threads={threads} is ignored",
                      RuntimeWarning, stacklevel=3)


def compile_net(model: CheckedModel, options: TrainOptions | None = None) -> Any:
    """The Keras model for ``model``, compiled with its loss, optimizer, metrics and ``options``."""
    options = options or TrainOptions()
    return build(model, steps_per_execution=options.steps_per_execution,
                 jit_compile="auto" if options.jit_compile is None else options.jit_compile)


def train(model: CheckedModel, data: Data, *, net: Any = None, verbose: int | str = "auto",
          callbacks: Sequence[Any] = (), options: TrainOptions | None = None,
          context: dist.Context | None = None,
          ) -> tuple[Any, list[dict[str, float]], str | None]:
    """Fit the model. Returns the Keras model, per-epoch history and how it stopped
    (None when all epochs ran, "interrupted" on Ctrl-C). A NaN loss raises NetdslTrainingError.

    ``options`` (:class:`TrainOptions`) set how fast it runs; a ``net`` given already compiled
    keeps its own compile settings (``options.threads`` still applies)."""
    keras = import_keras(model.settings["backend"])
    options = options or TrainOptions()
    ctx = context or dist.start(keras.backend.backend(), distribute=options.distribute,
                                cluster=options.cluster)
    options = ctx.adjust(options)
    set_threads(options.threads)
    seed_everything(model.settings["seed"])
    settings = model.settings
    recorder = _Recorder(keras)
    stopped = None
    try:
        with ctx.scope():  # data-parallel (netdsl.distribute): build and fit on every device
            net = net if net is not None else compile_net(model, options)
            net.fit(**ctx.fit_arguments(data.x_train, data.y_train, settings["batch_size"],
                                        settings["validation_split"]),
                    epochs=settings["epochs"], verbose=verbose, callbacks=[recorder, *callbacks])
    except KeyboardInterrupt:
        stopped = "interrupted"
        if recorder.good_weights is not None:
            net.set_weights(recorder.good_weights)
    if recorder.nan_epoch is not None:
        raise NetdslTrainingError(
            f"the loss became NaN in epoch {recorder.nan_epoch}; training stopped",
            help="lower the learning rate, e.g. `optimizer: adam(learning_rate=1e-4)`, "
                 "or check the data for NaN values", code="NDL303")
    return net, recorder.history, stopped


def evaluate(net: Any, model: CheckedModel, data: Data) -> dict[str, float]:
    """Test-set loss and metrics, by Keras's names (``loss``, ``accuracy``, ...)."""
    values = net.evaluate(data.x_test, data.y_test, batch_size=max(model.settings["batch_size"], 256),
                          verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}


def spec_text(model: CheckedModel) -> str:
    """The program as run: every effective setting written out (defaults, the dataset's answers
    and command-line overrides included), then its blocks and network."""
    effective = {s.key: s for s in model.settings.to_ir()}
    written = [dataclasses.replace(effective.pop(s.key), span=s.span, key_span=s.key_span)
               for s in model.program.settings if s.key in effective]  # comments stay in place
    program = dataclasses.replace(model.program, settings=(*written, *effective.values()))
    return format_program(program)


@dataclass
class RunReport:
    """What a run did and where it put things (``folder`` is None in processes other than
    the first of a multi-process run, which write nothing)."""

    folder: Path | None
    status: str
    epochs_done: int
    wall_seconds: float
    test: dict[str, float] = field(default_factory=dict)
    #: data-parallel runs: this process, the devices, and a fingerprint of the final weights
    distributed: dict[str, Any] | None = None

    @property
    def stopped(self) -> str | None:
        return None if self.status == "completed" else self.status

    def text(self) -> str:
        lines = []
        if self.test:
            acc = self.test.get("accuracy", self.test.get("compile_metrics"))
            parts = [f"test loss {self.test['loss']:.4f}"]
            if acc is not None:
                parts.append(f"test accuracy {100 * acc:.2f}%")
            lines.append(" · ".join(parts))
        if self.status == "interrupted":
            lines.append(f"interrupted after {self.epochs_done} finished epoch(s); they are saved")
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


def new_run_folder(out_dir: str | os.PathLike[str], stem: str) -> Path:
    """A fresh folder ``out_dir/stem-YYYYmmdd-HHMMSS[-N]``; never reuses an existing one."""
    base = Path(out_dir)
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        folder = base / (f"{stem}-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise NetdslTrainingError(f"could not create a new run folder in {base}")


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def run_model(model: CheckedModel, *, data: str | os.PathLike[str] | None = None,
              out_dir: str | os.PathLike[str] = "runs", quiet: bool = False,
              echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
              options: TrainOptions | None = None) -> RunReport:
    """Load data, build, train, evaluate, save: ``netdsl run``. In a multi-process run every
    process trains on its shard and only the first writes the run folder."""
    options = options or TrainOptions()
    started = time.perf_counter()
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    keras = import_keras(model.settings["backend"])
    ctx = dist.start(keras.backend.backend(), distribute=options.distribute, cluster=options.cluster)
    options = ctx.adjust(options)  # what actually runs is what metrics.json records
    arrays = ctx.shard(load_data(model, data))
    stem = Path(model.program.filename or "model").stem if model.program.filename not in (None, "<stdin>") else "model"
    folder = new_run_folder(out_dir, stem) if ctx.writer else None
    if folder is not None:
        (folder / "model.net").write_text(spec_text(model), encoding="utf-8")
    quiet = quiet or not ctx.writer
    if not quiet:
        epochs = model.settings["epochs"]
        echo(f"training {stem}: {len(model.nodes)} layers, {model.total_params:,} parameters on "
             f"{model.dataset.name} ({len(arrays.x_train):,} train / {len(arrays.x_test):,} test), "
             f"{epochs} epoch{'s' * (epochs != 1)}, batch size {model.settings['batch_size']}")
        if ctx.distributed:
            echo(ctx.describe())
    verbose: int | str = 0 if quiet else (1 if sys.stdout.isatty() else 2)
    meta = {"started": when, "file": model.program.filename, "params": model.total_params,
            "settings": model.settings.to_dict(), "options": options.to_dict(), "versions": _versions(),
            **({"distributed": ctx.to_dict()} if ctx.distributed else {})}
    try:
        net, history, stopped = train(model, arrays, verbose=verbose, options=options, context=ctx)
    except NetdslTrainingError as e:
        if folder is not None:
            _write_json(folder / "metrics.json", {**meta, "status": "nan" if e.code == "NDL303" else "failed",
                                                  "error": e.message})
            e.help = (e.help or "") + f"; the run folder {folder}/ records it (no model saved)"
        raise
    test: dict[str, float] = {}
    if stopped is None:
        with ctx.scope():
            test = evaluate(net, model, arrays)
    ctx.close()
    distributed = ({**ctx.to_dict(), "weights": dist.fingerprint(net.get_weights())}
                   if ctx.distributed else None)
    status = stopped or "completed"
    if folder is not None:
        _write_json(folder / "history.json", {"epochs": history})
        if history:
            net.save(folder / "model.keras")
    wall = time.perf_counter() - started
    if folder is not None:
        _write_json(folder / "metrics.json", {
            **meta, "status": status, "epochs_completed": len(history), "epochs_planned": model.settings["epochs"],
            "test": test, "wall_seconds": round(wall, 3),
            **({"distributed": distributed} if distributed else {}),
        })
        if stopped:
            (folder / "STOPPED").write_text(f"{status} after {len(history)} epoch(s)\n", encoding="utf-8")
    return RunReport(folder, status, len(history), wall, test, distributed)


def _versions() -> dict[str, str]:
    keras = import_keras()
    backend = keras.backend.backend()
    engine = __import__(backend)
    return {"netdsl": __version__, "keras": keras.__version__, "backend": backend,
            backend: engine.__version__, "python": platform.python_version()}
