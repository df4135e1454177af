"""Data-parallel training on Keras's own engines: every local device, and several processes.

``--distribute`` trains on every device of this machine: ``tf.distribute.MirroredStrategy`` on
the TensorFlow backend, ``keras.distribution.DataParallel`` on JAX. Several processes (on one
machine or many) train through ``keras.distribution`` on the JAX backend: JAX's distributed
runtime (gloo collectives on CPU, NCCL on GPU), one coordinator address, each process feeding
only its shard of the data. TensorFlow's ``MultiWorkerMirroredStrategy`` is not used: it fails
on Keras 3 (keras-team/keras#20585). The batch size is always the global batch: the number of
examples per step over every device and process together.

A watchdog in each process beats through the coordinator's key-value store and stops the
process with a clear error when a peer has stopped beating for ``timeout`` seconds, so a dead
process never leaves the others waiting forever in a collective step.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import NetdslError, NetdslTrainingError

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV",
    "TF_MULTI_WORKER_ISSUE",
    "Cluster",
    "Context",
    "fingerprint",
    "local",
    "start",
    "wait_for_coordinator",
]

#: why TensorFlow's multi-worker strategy is not used
TF_MULTI_WORKER_ISSUE = "https://github.com/keras-team/keras/issues/20585"

#: seconds a process waits for the others (to connect, or between heartbeats) before it stops
DEFAULT_TIMEOUT = 60.0

#: field -> the environment variables it is read from when no flag gives it, first found wins
#: (Keras's own names, then JAX's)
ENV: Mapping[str, tuple[str, ...]] = {
    "coordinator": ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "JAX_COORDINATOR_ADDRESS"),
    "num_processes": ("KERAS_DISTRIBUTION_NUM_PROCESSES", "JAX_NUM_PROCESSES"),
    "process_id": ("KERAS_DISTRIBUTION_PROCESS_ID", "JAX_PROCESS_ID"),
}

_ADDRESS = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-_]+):(?P<port>\d{1,5})$")


def _error(message: str, help: str | None = None) -> NetdslTrainingError:
    return NetdslTrainingError(message, code="NDL321", help=help)


@dataclass(frozen=True)
class Cluster:
    """Where this process stands in a multi-process run: the coordinator (process 0's
    ``host:port``), how many processes, which one this is, and the timeout in seconds."""

    coordinator: str
    num_processes: int
    process_id: int
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        m = _ADDRESS.match(self.coordinator)
        if not m or not 0 < int(m["port"]) < 65536:
            raise _error(
                f"the coordinator address `{self.coordinator}` is not host:port",
                help="e.g. --coordinator 10.0.0.1:29500 (process 0's address and a free port)",
            )
        if self.num_processes < 1:
            raise _error(f"the number of processes must be at least 1, got {self.num_processes}")
        if not 0 <= self.process_id < self.num_processes:
            raise _error(f"process id {self.process_id} is not in 0..{self.num_processes - 1}")
        if not self.timeout > 0:
            raise _error(f"the timeout must be positive, got {self.timeout}")

    @classmethod
    def resolve(
        cls,
        coordinator: str | None = None,
        num_processes: int | None = None,
        process_id: int | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> Cluster | None:
        """From flags, else the environment (:data:`ENV`); None when neither names a
        coordinator (a single-process run). A partial description is an error."""
        given: dict[str, Any] = {
            "coordinator": coordinator,
            "num_processes": num_processes,
            "process_id": process_id,
        }
        source: dict[str, str] = {}
        for key, names in ENV.items():
            if given[key] is not None:
                source[key] = "--" + key.replace("_", "-")
                continue
            for name in names:
                if environ.get(name):
                    given[key], source[key] = environ[name], name
                    break
        if given["coordinator"] is None:
            extra = [source[k] for k in ("num_processes", "process_id") if k in source]
            if extra and int(given["num_processes"] or 1) > 1:
                raise _error(
                    f"{' and '.join(extra)} given, but no coordinator address",
                    help="give --coordinator HOST:PORT (or KERAS_DISTRIBUTION_JOB_ADDRESSES)",
                )
            return None
        address = (
            str(given["coordinator"]).split(",")[0].strip()
        )  # Keras lists every job; the first leads
        missing = [k for k in ("num_processes", "process_id") if given[k] is None]
        if missing:
            raise _error(
                f"a coordinator is given ({source['coordinator']}) but not "
                + " or ".join("--" + k.replace("_", "-") for k in missing),
                help="every process needs --coordinator, --num-processes and --process-id "
                "(or their environment variables, see docs/distributed.md)",
            )
        values: dict[str, int] = {}
        for key in ("num_processes", "process_id"):
            try:
                values[key] = int(given[key])
            except (TypeError, ValueError):
                raise _error(f"{source[key]}={given[key]!r} is not a whole number") from None
        return cls(
            address,
            values["num_processes"],
            values["process_id"],
            DEFAULT_TIMEOUT if timeout is None else float(timeout),
        )


@dataclass
class Context:
    """How this process trains: on which devices, as which process of how many. ``scope``
    wraps building and fitting; ``shard``, ``trim`` and ``local_batch`` give each process its part."""

    backend: str
    devices: tuple[str, ...] = ()
    process_id: int = 0
    num_processes: int = 1
    local_devices: int = 1
    seed: int | None = None
    _scope: Callable[[], ContextManager[Any]] = field(default=contextlib.nullcontext, repr=False)
    _watchdog: _Watchdog | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def distributed(self) -> bool:
        """Whether training is data-parallel (over devices or processes)."""
        return len(self.devices) > 1 or self.num_processes > 1

    @property
    def writer(self) -> bool:
        """Only the first process writes the run folder."""
        return self.process_id == 0

    def scope(self) -> ContextManager[Any]:
        """Build and fit inside this (TensorFlow's strategy scope; JAX's distribution is global)."""
        return self._scope()

    def local_batch(self, global_batch: int) -> int:
        """This process's share of a global batch; it must split evenly over every device."""
        total = len(self.devices) if self.backend == "jax" else self.num_processes
        if total > 1 and global_batch % total:
            raise _error(
                f"the batch size {global_batch} does not split evenly over {total} devices",
                help=f"the batch size is the global batch; use a multiple of {total}, "
                f"e.g. --batch-size {max(total, global_batch - global_batch % total)}",
            )
        return global_batch // self.num_processes

    def _trim(self, n: int) -> int:
        """Examples to keep so every batch, the last one too, splits evenly over local devices."""
        return n - n % self.local_devices if self.backend == "jax" else n

    def shard(self, data: Any) -> Any:
        """This process's equal, contiguous block of the training and test examples (a
        ``training.Data``); the few examples that do not divide evenly are left out."""
        if self.num_processes == 1 and not (self.backend == "jax" and self.local_devices > 1):
            return data
        parts = []
        for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
            size = len(x) // self.num_processes
            start = self.process_id * size
            keep = self._trim(size)
            parts += [x[start : start + keep], y[start : start + keep]]
        return type(data)(*parts)

    def trim_size(self, n: int) -> int:
        """How many of ``n`` examples to keep so every batch, the last one too, splits evenly
        over this process's devices (JAX; TensorFlow's strategy splits uneven batches itself)."""
        return self._trim(n)

    def trim(self, data: Any) -> Any:
        """A ``training.Data`` whose training part is cut to :meth:`trim_size` (the held-out
        validation part is cut by the caller the same way)."""
        keep = self._trim(len(data.x_train))
        if keep == len(data.x_train):
            return data
        return data._replace(x_train=data.x_train[:keep], y_train=data.y_train[:keep])

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran (training and evaluation finished in this process)."""
        return self._closed

    def adjust(self, options: Any) -> Any:
        """``TrainOptions`` this context can run: on TensorFlow's MirroredStrategy one batch per
        compiled call, since Keras 3.15 + TF 2.21 fail with more (``You must feed a value for
        placeholder tensor ... multi_step_on_iterator``)."""
        if self.backend == "tensorflow" and self.distributed and options.steps_per_execution > 1:
            import dataclasses

            return dataclasses.replace(options, steps_per_execution=1)
        return options

    def close(self) -> None:
        """Training and evaluation are over: stop watching the other processes and leave the
        JAX distribution, so that saving (which makes new variables) is local to this process
        instead of a collective step the others would never join."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.stop()
        if self.backend == "jax" and self.distributed:
            import keras

            keras.distribution.set_distribution(None)
        for key, ctx in list(_STARTED.items()):
            if ctx is self and self.num_processes == 1:
                del _STARTED[key]  # one machine's devices: a later run sets them up again

    def on_abort(self, record: Callable[[NetdslError], None]) -> None:
        """Have ``record`` called with the error when the watchdog stops this process (a peer
        died), so the run folder says so before the process leaves."""
        if self._watchdog is not None:
            self._watchdog.on_abort = record

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "devices": list(self.devices),
            "process_id": self.process_id,
            "num_processes": self.num_processes,
        }

    def describe(self) -> str:
        """One line for the run's header."""
        where = f"{len(self.devices)} device{'s' * (len(self.devices) != 1)}"
        if self.num_processes > 1:
            where += f" in {self.num_processes} processes"
        note = (
            "; one batch per compiled step (MirroredStrategy)"
            if self.backend == "tensorflow"
            else ""
        )
        return (
            f"data-parallel on {where} ({self.backend}); the batch size is the global batch{note}"
        )


def local(backend: str) -> Context:
    """The context of a plain single-device, single-process run."""
    return Context(backend)


_STARTED: dict[tuple[Any, ...], Context] = {}


def start(backend: str, *, distribute: bool = False, cluster: Cluster | None = None) -> Context:
    """Set up data-parallel training for this process (once; later calls with the same
    arguments return the same context). Raises NetdslTrainingError when it cannot."""
    key = (backend, distribute, cluster)
    if key in _STARTED:
        return _STARTED[key]
    if (
        cluster is not None and cluster.num_processes > 1 and backend != "jax"
    ):  # a wrong request first
        raise _error(
            "training in several processes needs the JAX backend",
            help=f"add --backend jax. TensorFlow's MultiWorkerMirroredStrategy fails on Keras 3 "
            f"({TF_MULTI_WORKER_ISSUE}); see docs/distributed.md",
        )
    if any(ctx.distributed for ctx in _STARTED.values()) or (_STARTED and (distribute or cluster)):
        raise _error(
            "this process is already set up for another kind of training",
            help="run each training setup in its own process",
        )
    if cluster is not None and cluster.num_processes == 1:
        cluster = None
    if backend == "tensorflow":
        ctx = _tensorflow(distribute) if distribute else local(backend)
    elif cluster is not None:
        ctx = _jax_cluster(cluster)
    else:
        ctx = _jax_devices() if distribute else local(backend)
    _STARTED[key] = ctx
    return ctx


def _tensorflow(distribute: bool) -> Context:
    """MirroredStrategy over every GPU, else every (logical) CPU."""
    from .runtime import import_keras

    import_keras("tensorflow")
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    names = tuple(d.name for d in devices)
    strategy = tf.distribute.MirroredStrategy(list(names))
    return Context("tensorflow", names, local_devices=len(names), _scope=strategy.scope)


def _jax_devices() -> Context:
    """keras.distribution.DataParallel over every local device."""
    from .runtime import import_keras

    keras = import_keras("jax")
    import jax

    devices = jax.devices()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    )
    return Context("jax", tuple(str(d) for d in devices), local_devices=len(devices))


def _jax_cluster(cluster: Cluster) -> Context:
    """Join the other processes through JAX's distributed runtime, then DataParallel over
    every device of every process; each process feeds its own shard."""
    from .runtime import import_keras

    keras = import_keras("jax")
    import jax

    # CPU collectives over gloo (GPUs use NCCL whatever this says); must precede JAX's first use
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # type: ignore[no-untyped-call]
    timeout = max(1, int(cluster.timeout))
    if cluster.process_id != 0:
        wait_for_coordinator(cluster)  # JAX itself aborts the process when it cannot connect
    try:
        jax.distributed.initialize(
            coordinator_address=cluster.coordinator,
            num_processes=cluster.num_processes,
            process_id=cluster.process_id,
            initialization_timeout=timeout,
            # JAX's own heartbeat check aborts the process; ours (below) fires first, clearly
            heartbeat_timeout_seconds=timeout + 30,
            # at the end, process 0 saves while the others wait for it at JAX's shutdown barrier
            shutdown_timeout_seconds=max(300, timeout),
        )
    except Exception as exc:  # noqa: BLE001 - JAX raises plain RuntimeError/XlaRuntimeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _error(
            f"process {cluster.process_id} of {cluster.num_processes} could not join the run at "
            f"{cluster.coordinator} within {timeout} s: {first[:300]}",
            help="start every process with the same --coordinator and --num-processes and a "
            "different --process-id; process 0 listens on the coordinator's port (open it in "
            "the firewall)",
        ) from None
    devices = jax.devices()
    seed = _shared_seed(jax)
    keras.utils.set_random_seed(seed)  # the same initial weights in every process
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    )
    watchdog = _Watchdog(cluster)
    watchdog.start()
    ctx = Context(
        "jax",
        tuple(str(d) for d in devices),
        cluster.process_id,
        cluster.num_processes,
        local_devices=len(jax.local_devices()),
        seed=seed,
        _scope=lambda: _collective_errors(cluster),
        _watchdog=watchdog,
    )
    atexit.register(_leave_if_unfinished, ctx)  # runs before JAX's own exit handler (LIFO)
    return ctx


@contextlib.contextmanager
def _collective_errors(cluster: Cluster) -> Iterator[None]:
    """A step shared with the other processes that fails (a peer died, the network dropped)
    becomes a clear error instead of a JAX traceback."""
    try:
        yield
    except NetdslError:
        raise
    except Exception as exc:
        if not (
            type(exc).__name__ in ("JaxRuntimeError", "XlaRuntimeError")
            or _PEER_TROUBLE.search(str(exc))
        ):
            raise
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        cause = cause.rsplit("Error dispatching computation: ", 1)[-1][:300]
        raise _error(
            f"process {cluster.process_id} of {cluster.num_processes}: a training step shared with "
            f"the other processes failed ({cause})",
            help="another process has probably stopped; look at its output for its error",
        ) from None


#: words of a failed collective step or a lost peer, whatever exception type carries them
_PEER_TROUBLE = re.compile(
    r"gloo|nccl|connection (reset|closed|refused)|coordination service|barrier", re.I
)


def _leave_if_unfinished(ctx: Context) -> None:
    """At exit after a failure, leave at once: JAX's shutdown would wait for the others at a
    barrier they never reach, then abort with a C++ stack trace."""
    if not ctx.closed:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def wait_for_coordinator(cluster: Cluster, interval: float = 0.5) -> None:
    """Wait until process 0 listens on the coordinator's address, for at most the timeout;
    then a clear error (JAX's own connect gives up by aborting with a C++ stack trace)."""
    import socket

    host, port = cluster.coordinator.rsplit(":", 1)
    deadline = time.monotonic() + cluster.timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=interval):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise _error(
                    f"process {cluster.process_id} of {cluster.num_processes}: nothing answers at the "
                    f"coordinator {cluster.coordinator} after {cluster.timeout:g} s ({exc.strerror or exc})",
                    help="start process 0 (it listens there) with the same --coordinator; check the "
                    "address, the port and the firewall (docs/distributed.md)",
                ) from None
        time.sleep(interval)


def _shared_seed(jax: Any) -> int:
    """A random seed drawn by process 0 and sent to every process (a ``seed:`` setting, applied
    later by training, wins the same way in every process)."""
    from jax.experimental import multihost_utils

    mine = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(multihost_utils.broadcast_one_to_all(np.asarray(mine, dtype=np.int32)))


class _Watchdog:
    """Beats through the coordinator's key-value store once a second and watches the others'
    beats; a peer silent for ``timeout`` seconds, or a lost coordinator, stops this process
    with a clear error (exit status 1) instead of a hang in the next collective step."""

    def __init__(self, cluster: Cluster, interval: float = 1.0) -> None:
        from jax._src import distributed

        self.client: Any = distributed.global_state.client
        self.cluster = cluster
        self.interval = min(interval, cluster.timeout / 4)
        self._stop = threading.Event()
        #: called with the error just before the watchdog ends the process
        self.on_abort: Callable[[NetdslError], None] | None = None
        self._thread = threading.Thread(target=self._run, name="netdsl-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Mark this process finished (peers stop watching it) and stop watching."""
        self._stop.set()
        with contextlib.suppress(Exception):
            self.client.key_value_set(
                f"netdsl/done/{self.cluster.process_id}", "1", allow_overwrite=True
            )

    def _run(self) -> None:
        me, n = self.cluster.process_id, self.cluster.num_processes
        beat = 0
        last: dict[int, tuple[str, float]] = {}
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                beat += 1
                self.client.key_value_set(f"netdsl/beat/{me}", str(beat), allow_overwrite=True)
                for peer in range(n):
                    if peer == me or self._done(peer):
                        continue
                    value = self._try_get(f"netdsl/beat/{peer}")
                    if peer not in last or last[peer][0] != value:
                        last[peer] = (value, now)
                    elif now - last[peer][1] > self.cluster.timeout:
                        self._die(
                            f"process {peer} of {n} stopped responding "
                            f"{now - last[peer][1]:.0f} s ago (it died or hangs)"
                        )
            except Exception as exc:  # noqa: BLE001 - the coordinator's store is gone
                if self._stop.is_set():
                    return
                who = "the coordinator (process 0)" if me != 0 else "the run's key-value store"
                self._die(
                    f"lost contact with {who} at {self.cluster.coordinator}: "
                    f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__}"
                )
            self._stop.wait(self.interval)

    def _try_get(self, key: str) -> str:
        try:
            return str(self.client.key_value_try_get(key))
        except Exception as exc:
            if "NOT_FOUND" in str(exc) or "not found" in str(exc).lower():
                return ""
            raise

    def _done(self, peer: int) -> bool:
        return self._try_get(f"netdsl/done/{peer}") == "1"

    def _die(self, why: str) -> None:
        from ..lang.diagnostics import render

        err: NetdslError = _error(
            f"process {self.cluster.process_id} stops: {why}; training cannot go on without it",
            help=f"waited {self.cluster.timeout:g} s (--timeout); the run folder of process 0 keeps "
            "what was written so far. Look at the other process's output for its error",
        )
        sys.stderr.write(render(err) + "\n")
        sys.stderr.flush()
        if self.on_abort is not None:  # e.g. process 0 records "failed" in its run folder
            with contextlib.suppress(BaseException):
                self.on_abort(err)
        os._exit(1)  # the main thread may be blocked inside a collective step: leave now


def fingerprint(weights: list[Any]) -> str:
    """SHA-256 of a model's weights (shapes, dtypes and bytes), the first 16 hex digits: equal
    in every process of a data-parallel run."""
    h = hashlib.sha256()
    for w in weights:
        a = np.ascontiguousarray(np.asarray(w))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
