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
    env.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=address, KERAS_DISTRIBUTION_NUM_PROCESSES=str(n),
               KERAS_DISTRIBUTION_PROCESS_ID=str(i), PYTHONUNBUFFERED="1")
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


def launch(n: int, run_args: Sequence[str], *, cli_args: Sequence[str] = (), timeout: float = 60.0,
           echo: Callable[[str], None] = lambda s: print(s, flush=True),
           port: int | None = None, native_logs: bool = False) -> Result:
    """Start ``n`` processes of ``netdsl [cli_args] run [run_args]`` on this machine and wait
    for them; ``timeout`` bounds how long the others may run on after one has failed.
    ``native_logs``: pass on TensorFlow's and the collectives' log noise too (``-v``)."""
    address = f"127.0.0.1:{port or free_port()}"
    command = [sys.executable, "-m", "netdsl.tools.cli", *cli_args, "run", *run_args]
    if "--timeout" not in run_args:
        command += ["--timeout", f"{timeout:g}"]
    procs: list[subprocess.Popen[str]] = []
    weights: dict[int, str] = {}
    lock = threading.Lock()

    def pump(i: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            if not native_logs and native_noise(line):
                continue
            found = _WEIGHTS.search(line)
            with lock:
                if found:
                    weights[i] = found.group(1)
                echo(f"[{i}] {line}")

    readers = []
    for i in range(n):
        proc = subprocess.Popen(command, env=worker_env(dict(os.environ), address, n, i), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
        procs.append(proc)
        reader = threading.Thread(target=pump, args=(i, proc), daemon=True)
        reader.start()
        readers.append(reader)
    failed_at: float | None = None
    try:
        while any(p.poll() is None for p in procs):
            if failed_at is None and any(p.returncode not in (None, 0) for p in procs):
                failed_at = time.monotonic()
            if failed_at is not None and time.monotonic() - failed_at > timeout:
                for i, p in enumerate(procs):
                    if p.poll() is None:
                        echo(f"launch: process {i} still running {timeout:g} s after another "
                             "failed; killing it")
                        p.kill()
            time.sleep(0.2)
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    for reader in readers:
        reader.join(timeout=5)
    return Result([p.wait() for p in procs], weights)
