"""The run folder's lifecycle: creation, atomic writes, status, per-epoch checkpoints, resume.

A run folder always says what happened: ``metrics.json`` holds ``status`` (``running``,
``finished``, ``stopped``, ``failed`` or ``crashed``, with the error), and every file is written
to a temporary name and renamed, so a reader never sees half of one. Checkpoints hold the
model's variables (random-seed states included), the optimizer's (step counter included), the
history so far and the shuffling seed; each has a SHA-256 in its manifest, so a damaged one is
detected and the one before it used. No TensorFlow here: arrays are NumPy.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import signal
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NetdslTrainingError

if TYPE_CHECKING:
    from ..checking.plan import CheckedModel
    from ..keras.training import Data, StreamData

__all__ = [
    "EXIT_CODES",
    "KEEP_CHECKPOINTS",
    "LOCK_FILE",
    "MAIN_METRICS",
    "STATUSES",
    "Checkpoint",
    "RunFolder",
    "RunLock",
    "Stopped",
    "by_output",
    "create_run_folder",
    "list_runs",
    "main_metric",
    "output_metrics",
    "process_gone",
    "process_record",
    "read_json",
    "recorded_outputs",
    "signals_stop",
    "write_atomic",
    "write_data_record",
    "write_json",
]

#: what ``metrics.json``'s ``status`` may say
STATUSES = ("running", "finished", "stopped", "failed", "crashed")
#: ``netdsl run``'s exit code for each way a run ends (``stopped`` by Ctrl-C or SIGTERM)
EXIT_CODES: Mapping[str, int] = {
    "finished": 0,
    "failed": 1,
    "crashed": 1,
    "interrupt": 130,
    "SIGTERM": 143,
}
#: checkpoints kept in ``checkpoints/``: the newest, and the one before it in case it is damaged
KEEP_CHECKPOINTS = 2
#: the file a process holds locked (``flock``) while it works in a run folder
LOCK_FILE = "run.lock"
#: a run's main test metric by its target kind: the name shown and the keys Keras may report it as
MAIN_METRICS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "classes": ("accuracy", ("accuracy", "categorical_accuracy", "sparse_categorical_accuracy")),
    "binary": ("accuracy", ("accuracy", "binary_accuracy")),
    "regression": ("mae", ("mean_absolute_error", "mae")),
}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


class Stopped(KeyboardInterrupt):
    """Ctrl-C or a termination signal: training stops and keeps what it finished."""

    def __init__(self, reason: str = "interrupt") -> None:
        super().__init__(reason)
        self.reason = reason


@contextlib.contextmanager
def signals_stop() -> Iterator[None]:
    """SIGTERM (what schedulers and ``docker stop`` send) raises :class:`Stopped`, like Ctrl-C,
    while the block runs (main thread only; elsewhere a no-op)."""

    def handler(signum: int, frame: Any) -> None:
        raise Stopped(signal.Signals(signum).name)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_atomic(path: Path, data: bytes | str | Callable[[Any], None]) -> None:
    """Write ``path`` through a sibling temporary file, flushed to disk, then renamed over it:
    a crash or a full disk leaves the old file or the new one, never part of one. ``data`` may
    be a function that writes into the (binary) file object."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a run's files are ordinary files
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    """JSON, atomically."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> Any:
    """JSON from ``path``, or None if it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fs_error(what: str, path: Path, exc: OSError) -> NetdslTrainingError:
    reason = exc.strerror or str(exc)
    return NetdslTrainingError(
        f"cannot {what} {path}: {reason}",
        code="NDL305",
        help="pass --out a folder you can write to" if "create" in what else None,
    )


def create_run_folder(out_dir: str | os.PathLike[str], stem: str) -> Path:
    """A fresh folder ``out_dir/stem-YYYYmmdd-HHMMSS[-N]``; never reuses an existing one. An
    ``out_dir`` that is a file, or under one, or not writable, is a clean ``NDL305`` error."""
    base = Path(out_dir)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        raise _fs_error("create run folders in", base, e) from None
    except OSError as e:
        raise _fs_error("create run folders in", base, e) from None
    if not base.is_dir():
        raise NetdslTrainingError(
            f"cannot create run folders in {base}: it is a file",
            code="NDL305",
            help="pass --out a folder",
        )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        folder = base / (f"{stem}-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as e:
            raise _fs_error("create run folders in", base, e) from None
    raise NetdslTrainingError(f"could not create a new run folder in {base}", code="NDL305")


class RunLock:
    """An exclusive ``flock`` on the folder's :data:`LOCK_FILE` for as long as one process works
    in it: a second ``run --resume`` of the folder is refused, and the kernel releases the lock
    when the process ends, however it ends (``kill -9`` included)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, holder: Mapping[str, Any] | None = None) -> None:
        """Take the lock or raise ``NDL306`` naming the process that holds it (``holder``: the
        folder's last recorded process, for the message)."""
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise _fs_error("lock", self.path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            who = _describe_process(holder)
            raise NetdslTrainingError(
                f"the run in {self.path.parent}/ is in use by another netdsl process{who}",
                code="NDL306",
                help="wait for it to end (or stop it), then resume",
            ) from None
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (the file stays: removing it could let two processes lock two files)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _describe_process(holder: Mapping[str, Any] | None) -> str:
    if not holder or "pid" not in holder:
        return ""
    return f" (process {holder['pid']} on {holder.get('host', '?')}, started {holder.get('started', '?')})"


def process_record() -> dict[str, Any]:
    """This process, as ``metrics.json`` records it: its id, its host and when it started."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def process_gone(folder: Path, process: Mapping[str, Any] | None) -> bool:
    """True when the process that last worked in ``folder`` is known to be gone: nobody holds
    its lock (or, for a folder without one, its pid is dead), on this host. False when it lives
    or cannot be known from here (another host; a folder recorded before processes were)."""
    if not process or process.get("host") != socket.gethostname():
        return False
    lock = folder / LOCK_FILE
    if lock.is_file():
        return not _locked(lock)
    try:
        os.kill(int(process["pid"]), 0)
    except ProcessLookupError:
        return True
    except (OSError, KeyError, TypeError, ValueError):
        return False
    return False


def _locked(lock: Path) -> bool:
    """Whether some process holds ``lock`` (probed with a shared lock, let go at once)."""
    import fcntl

    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing lets go of a lock this probe took
    return False


def main_metric(test: Mapping[str, float], kind: str | None) -> tuple[str, float] | None:
    """The test metric a run is judged by (:data:`MAIN_METRICS`): accuracy for classes and
    binary targets, MAE for regression (a graph's: its first output's by name); None when the
    run did not report it."""
    rows = (
        [MAIN_METRICS[kind]]
        if kind is not None and kind in MAIN_METRICS
        else list(MAIN_METRICS.values())
    )
    for name, keys in rows:
        for key in keys:
            if key in test:
                return name, float(test[key])
    for name, keys in rows:  # a graph: Keras names each output's metrics `<output>_<metric>`
        for key in keys:
            found = sorted(k for k in test if k.endswith(f"_{key}"))
            if found:
                return name, float(test[found[0]])
    return None


def by_output(values: Mapping[str, float], outputs: Sequence[str]) -> dict[str, dict[str, float]]:
    """A graph's results by output: Keras's ``<output>_loss``, ``<output>_<metric>`` keys
    as ``{output: {"loss": ..., metric: ...}}`` (a longer output name is matched first, so
    ``odd_2_loss`` is not ``odd``'s); the total ``loss`` belongs to no output."""
    grouped: dict[str, dict[str, float]] = {o: {} for o in outputs}
    for key, value in values.items():
        for name in sorted(outputs, key=len, reverse=True):
            if key.startswith(f"{name}_"):
                grouped[name][key[len(name) + 1 :]] = value
                break
    return grouped


def recorded_outputs(data: Any) -> list[tuple[str, str | None]]:
    """A graph run's outputs as ``data.json`` recorded its targets: ``(name, target kind)``
    in order; empty for a chain program's run (one unnamed output)."""
    info = data.get("info") if isinstance(data, dict) else None
    targets = info.get("targets") if isinstance(info, dict) else None
    if not isinstance(targets, list):
        return []
    out = []
    for t in targets:
        if isinstance(t, dict) and isinstance(t.get("name"), str):
            kind = t.get("target", {}).get("kind") if isinstance(t.get("target"), dict) else None
            out.append((t["name"], kind if isinstance(kind, str) else None))
    return out


def output_metrics(test: Mapping[str, float], data: Any) -> list[dict[str, Any]]:
    """Each output's loss and main test metric (a graph run's; empty for a chain's)."""
    outputs = recorded_outputs(data)
    grouped = by_output(test, [name for name, _ in outputs])
    rows = []
    for name, kind in outputs:
        values = grouped.get(name, {})
        metric = main_metric(values, kind)
        rows.append(
            {
                "output": name,
                "loss": values.get("loss"),
                "metric": {"name": metric[0], "value": metric[1]} if metric else None,
            }
        )
    return rows


@dataclass
class Checkpoint:
    """One epoch's saved state: ``epoch`` finished epochs, the model's and optimizer's variables,
    the history so far and the run's shuffling seed."""

    epoch: int
    model: list[np.ndarray]
    optimizer: list[np.ndarray]
    history: list[dict[str, float]]
    shuffle_seed: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunFolder:
    """A run folder and what it records. ``meta`` goes into every ``metrics.json`` write."""

    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def metrics(self) -> dict[str, Any]:
        """``metrics.json`` as it is now (empty if missing or damaged)."""
        data = read_json(self.path / "metrics.json")
        return data if isinstance(data, dict) else {}

    def set_status(self, status: str, **fields: Any) -> None:
        """Rewrite ``metrics.json`` (atomically) with ``status`` and ``fields``."""
        assert status in STATUSES, status
        write_json(self.path / "metrics.json", {**self.meta, **fields, "status": status})

    def write_history(self, history: Sequence[Mapping[str, float]]) -> None:
        """``history.json`` and ``history.csv`` (one row per finished epoch), atomically."""
        write_json(self.path / "history.json", {"epochs": list(history)})
        keys: list[str] = []
        for row in history:
            keys.extend(k for k in row if k not in keys)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for i, row in enumerate(history, 1):
            writer.writerow([i, *(repr(row[k]) if k in row else "" for k in keys)])
        write_atomic(self.path / "history.csv", buf.getvalue())

    def save_checkpoint(self, cp: Checkpoint) -> None:
        """Write ``checkpoints/epoch-NNNN.npz`` then its manifest (with the file's SHA-256),
        each atomically; keep the newest :data:`KEEP_CHECKPOINTS`."""
        self.checkpoints.mkdir(exist_ok=True)
        stem = f"epoch-{cp.epoch:04d}"
        arrays = {f"m{i}": a for i, a in enumerate(cp.model)}
        arrays.update({f"o{i}": a for i, a in enumerate(cp.optimizer)})
        digest = hashlib.sha256()

        def save(f: Any) -> None:
            buf = io.BytesIO()
            np.savez(buf, **arrays)  # type: ignore[arg-type]
            data = buf.getvalue()
            digest.update(data)
            f.write(data)

        write_atomic(self.checkpoints / f"{stem}.npz", save)
        write_json(
            self.checkpoints / f"{stem}.json",
            {
                "epoch": cp.epoch,
                "sha256": digest.hexdigest(),
                "model_arrays": len(cp.model),
                "optimizer_arrays": len(cp.optimizer),
                "history": cp.history,
                "shuffle_seed": cp.shuffle_seed,
                **cp.extra,
            },
        )
        for old in self._manifests()[:-KEEP_CHECKPOINTS]:
            for p in (old, old.with_suffix(".npz")):
                with contextlib.suppress(OSError):
                    p.unlink()

    def _manifests(self) -> list[Path]:
        if not self.checkpoints.is_dir():
            return []
        return sorted(self.checkpoints.glob("epoch-*.json"))

    def latest_checkpoint(self) -> tuple[Checkpoint | None, list[str]]:
        """The newest checkpoint that is whole (manifest readable, arrays matching its SHA-256),
        and a line for each newer one that was damaged and skipped."""
        skipped: list[str] = []
        for manifest in reversed(self._manifests()):
            try:
                cp = self._read(manifest)
            except (OSError, ValueError, KeyError, TypeError) as e:
                skipped.append(f"{manifest.stem} is damaged ({e}); using the one before")
                continue
            return cp, skipped
        return None, skipped

    def _read(self, manifest: Path) -> Checkpoint:
        info = json.loads(manifest.read_text(encoding="utf-8"))
        data = manifest.with_suffix(".npz").read_bytes()
        if hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise ValueError("its arrays do not match their checksum")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            model = [npz[f"m{i}"] for i in range(int(info["model_arrays"]))]
            optimizer = [npz[f"o{i}"] for i in range(int(info["optimizer_arrays"]))]
        extra = {
            k: v
            for k, v in info.items()
            if k
            not in (
                "epoch",
                "sha256",
                "model_arrays",
                "optimizer_arrays",
                "history",
                "shuffle_seed",
            )
        }
        return Checkpoint(
            int(info["epoch"]),
            model,
            optimizer,
            list(info["history"]),
            int(info["shuffle_seed"]),
            extra,
        )


def list_runs(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every run folder under ``root`` (folders holding ``model.net``), newest first: name,
    date, spec file, epochs, status, test metrics and the main one, wall time, read from
    ``metrics.json`` and ``data.json``. A ``running`` run whose process is gone (killed with
    SIGKILL, the machine rebooted) is shown as ``crashed``."""
    base = Path(root)
    rows = []
    for folder in (
        sorted(p for p in base.iterdir() if (p / "model.net").is_file()) if base.is_dir() else []
    ):
        m = read_json(folder / "metrics.json")
        m = m if isinstance(m, dict) else {}
        status = m.get("status", "unknown")
        if status == "running" and process_gone(folder, m.get("process")):
            status = "crashed"
        data = read_json(folder / "data.json")
        kind = (data.get("target") or {}).get("kind") if isinstance(data, dict) else None
        test = m.get("test", {}) if isinstance(m.get("test"), dict) else {}
        metric = main_metric(test, kind)
        outputs = output_metrics(test, data)
        rows.append(
            {
                "name": folder.name,
                "path": str(folder),
                "started": m.get("started", ""),
                "file": m.get("file"),
                "status": status,
                "resumed": len(m.get("resumed", [])),
                "epochs": m.get("epochs_completed", 0),
                "epochs_planned": m.get("epochs_planned"),
                "test": test,
                "wall_seconds": m.get("wall_seconds"),
                "error": m.get("error"),
                "metric": {"name": metric[0], "value": metric[1]} if metric else None,
                **({"outputs": outputs} if outputs else {}),
            }
        )
    rows.sort(key=lambda r: (r["started"], r["name"]), reverse=True)
    return rows


def write_data_record(
    folder: Path,
    model: CheckedModel,
    data: Data | StreamData,
    path: str | os.PathLike[str] | None = None,
) -> None:
    """``data.json`` (the dataset, its arguments, where it was found, the split sizes, how the
    split was made, and ``info``: what the dataset said of itself, which ``predict``, ``export``
    and ``emit`` use instead of the data) and, for classes, ``labels.json`` (the class names in
    the order of the network's outputs: :data:`netdsl.checking.recorded.LABELS_FORMAT`)."""
    from ..checking.recorded import data_source, labels_record
    from ..keras.training import StreamData

    ref = model.dataset
    given = ref.kwargs.get("path")
    source = data_source(
        given or path,
        "the dataset's `path` argument" if given else "--data",
        getattr(ref.component, "env", None),
    )
    names = model.data.class_names
    if isinstance(data, StreamData):
        names = data.streams.class_names or names
    info = {**model.data.to_json(), "class_names": list(names)}
    record: dict[str, Any] = {
        "dataset": ref.to_json(),
        "data_path": source["path"],
        "data_source": source,
        "train_size": data.train_size,
        "test_size": data.test_size,
        "target": model.data.target.to_json(),
        "info": info,
    }
    if isinstance(data, StreamData):
        record.update(data.streams.record)
    write_atomic(folder / "data.json", json.dumps(record, indent=2) + "\n")
    target = model.data.target
    if target.kind != "regression":
        if not names:
            names = tuple(str(i) for i in range(max(target.num_classes, 2)))
        encoding = "binary" if target.kind == "binary" else model.labels
        write_atomic(
            folder / "labels.json", json.dumps(labels_record(names, encoding), indent=2) + "\n"
        )
