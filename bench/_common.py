"""Shared helpers for the benchmark suite: run a whole process, time it, summarise samples.

Nothing here imports TensorFlow or netdsl; the suite's orchestrator stays a light process and
every measured thing runs in a child of its own.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable
NETDSL = str(VENV_BIN / "netdsl") if (VENV_BIN / "netdsl").exists() else None


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment every child gets: the caller's, with TensorFlow's C++ log quiet."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONHASHSEED", "0")
    env.update(extra)
    return env


@dataclass
class Proc:
    """One finished child process: wall time, peak resident memory, exit code and output."""

    cmd: list[str]
    wall: float
    peak_mb: float
    rc: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The last line of stdout that parses as JSON (the workers print one)."""
        for line in reversed(self.stdout.strip().splitlines()):
            try:
                return json.loads(line)
            except ValueError:
                continue
        raise RuntimeError(
            f"no JSON from {' '.join(self.cmd)}:\n{self.stdout[-2000:]}\n{self.stderr[-2000:]}"
        )


def run_proc(
    cmd: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    check: bool = True,
) -> Proc:
    """Run ``cmd`` as a whole process; wall time from fork to exit, peak RSS from ``wait4``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env or quiet_env(),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        timer = threading.Timer(timeout, p.kill)  # a hung child is killed, not waited on forever
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        proc = Proc(
            list(cmd),
            wall,
            usage.ru_maxrss / 1024,
            p.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )
    if check and proc.rc != 0:
        raise RuntimeError(
            f"exit {proc.rc}: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


@dataclass
class Stats:
    """Median and spread of a sample."""

    values: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    def quartiles(self) -> tuple[float, float]:
        if self.n < 4:
            return self.lo, self.hi
        q = statistics.quantiles(self.values, n=4, method="inclusive")
        return q[0], q[2]

    def fmt(self, unit: str = "s", digits: int = 3) -> str:
        """``0.241 s (0.230–0.262, n=7)``: median, then min–max."""
        return f"{self.median:.{digits}f}{unit and ' ' + unit} ({self.lo:.{digits}f}–{self.hi:.{digits}f}, n={self.n})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": self.lo,
            "max": self.hi,
            "n": self.n,
            "values": self.values,
        }


def ratio_stats(numer: Sequence[float], denom: Sequence[float]) -> Stats:
    """Pairwise ratios of interleaved samples (pair i ran side by side)."""
    return Stats([a / b for a, b in zip(numer, denom)])


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_at_start": load,
    }


def versions() -> dict[str, str]:
    """Package versions, read without importing TensorFlow."""
    from importlib import metadata

    out = {}
    for dist in (
        "netdsl",
        "keras",
        "tensorflow-cpu",
        "tensorflow",
        "numpy",
        "lark",
        "click",
        "pluggy",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
