"""``netdsl launch -n N model.net [run options]``: N local processes of one multi-process run.

For trying multi-process training on one machine: every process is ``netdsl run`` with the
same coordinator (127.0.0.1 and a free port), the number of processes and its own id, in the
environment variables Keras reads (KERAS_DISTRIBUTION_*). Their output is collected, each
line prefixed with ``[i]``, less the native log noise ``netdsl run`` keeps off the terminal
(all of it with ``-v``); when one process fails, the others get ``timeout`` seconds to stop
on their own (their watchdog notices) and are then killed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..keras.runtime import native_noise

__all__ = ["Result", "free_port", "launch", "worker_env"]

_WEIGHTS = re.compile(r"weights ([0-9a-f]{16})\b")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the coordinator binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def worker_env(base: dict[str, str], address: str, n: int, i: int) -> dict[str, str]:
    """The environment of process ``i`` of ``n``: Keras's distribution variables, the JAX
    backend unless one is chosen, and one CPU thread pool per process not fighting the others."""
    env = dict(base)
    env.update(
        KERAS_DISTRIBUTION_JOB_ADDRESSES=address,
        KERAS_DISTRIBUTION_NUM_PROCESSES=str(n),
        KERAS_DISTRIBUTION_PROCESS_ID=str(i),
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("KERAS_BACKEND", "jax")
    return env


@dataclass
class Result:
    """How the processes ended: exit statuses by process id, and the weight fingerprints they printed."""

    returncodes: list[int]
    weights: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(rc == 0 for rc in self.returncodes)

    @property
    def returncode(self) -> int:
        """0 when every process succeeded, else the first failure's status (1 for a signal)."""
        for rc in self.returncodes:
            if rc != 0:
                return rc if rc > 0 else 1
        return 0


def launch(
    n: int,
    run_args: Sequence[str],
    *,
    cli_args: Sequence[str] = (),
    timeout: float = 60.0,
    echo: Callable[[str], None] = lambda s: print(s, flush=True),
    port: int | None = None,
    native_logs: bool = False,
) -> Result:
    """Start ``n`` processes of ``netdsl [cli_args] run [run_args]`` on this machine and wait
    for them; ``timeout`` bounds how long the others may run on after one has failed.
    ``native_logs``: pass on TensorFlow's and the collectives' log noise too (``-v``)."""
    address = f"127.0.0.1:{port or free_port()}"
    command = _command(run_args, cli_args, timeout)
    output = _Output(echo, native_logs)
    procs: list[subprocess.Popen[str]] = []
    readers: list[threading.Thread] = []
    for i in range(n):  # each read from as soon as it starts
        procs.append(_start(command, worker_env(dict(os.environ), address, n, i)))
        readers.append(output.follow(i, procs[-1]))
    try:
        _supervise(procs, timeout, echo)
    except KeyboardInterrupt:
        _interrupt(procs, timeout)
        raise
    for reader in readers:
        reader.join(timeout=5)
    return Result([p.wait() for p in procs], output.weights)


def _command(run_args: Sequence[str], cli_args: Sequence[str], timeout: float) -> list[str]:
    """The command line of every process: ``netdsl [cli_args] run [run_args]``, with the
    launch's ``--timeout`` unless the run arguments give one."""
    command = [sys.executable, "-m", "netdsl.tools.cli", *cli_args, "run", *run_args]
    if "--timeout" not in run_args:
        command += ["--timeout", f"{timeout:g}"]
    return command


def _start(command: Sequence[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """One process, its stderr merged into its stdout, read line by line."""
    return subprocess.Popen(
        command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1
    )


class _Output:
    """The processes' lines, each echoed with its ``[i]`` prefix (less native log noise unless
    ``native_logs``), one at a time; the weight fingerprint each printed is kept in ``weights``."""

    def __init__(self, echo: Callable[[str], None], native_logs: bool) -> None:
        self.echo, self.native_logs = echo, native_logs
        self.weights: dict[int, str] = {}
        self._lock = threading.Lock()

    def follow(self, i: int, proc: subprocess.Popen[str]) -> threading.Thread:
        """A started thread that reads process ``i``'s output until it ends."""
        reader = threading.Thread(target=self._pump, args=(i, proc), daemon=True)
        reader.start()
        return reader

    def _pump(self, i: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.line(i, line.rstrip("\n"))

    def line(self, i: int, line: str) -> None:
        """Echo one line of process ``i`` (or drop it as noise), noting a weight fingerprint."""
        if not self.native_logs and native_noise(line):
            return
        found = _WEIGHTS.search(line)
        with self._lock:
            if found:
                self.weights[i] = found.group(1)
            self.echo(f"[{i}] {line}")


def _supervise(
    procs: Sequence[subprocess.Popen[str]],
    timeout: float,
    echo: Callable[[str], None],
    poll: float = 0.2,
) -> None:
    """Wait for every process; once one has failed, kill those still running ``timeout``
    seconds later."""
    failed_at: float | None = None
    while any(p.poll() is None for p in procs):
        if failed_at is None and any(p.returncode not in (None, 0) for p in procs):
            failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > timeout:
            _kill_running(procs, timeout, echo)
        time.sleep(poll)


def _kill_running(
    procs: Sequence[subprocess.Popen[str]], timeout: float, echo: Callable[[str], None]
) -> None:
    for i, p in enumerate(procs):
        if p.poll() is None:
            echo(
                f"launch: process {i} still running {timeout:g} s after another failed; killing it"
            )
            p.kill()


def _interrupt(procs: Sequence[subprocess.Popen[str]], timeout: float) -> None:
    """Ctrl-C: pass SIGINT on to every running process, give each ``timeout`` seconds to stop
    (saving what it can), then kill it."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
