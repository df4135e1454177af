"""Training from the studio: ordinary ``netdsl run`` processes writing ordinary run folders.

A run is started as ``python -m netdsl run FILE`` when the editor's text is the saved file, else
as ``python -m netdsl run -`` with the text on standard input (so an unsaved program trains as
shown), in the program's folder, its run folders under ``runs/`` of
the studio's folder. Stop sends SIGTERM (the run records ``stopped`` and keeps its finished
epochs); resume is ``netdsl run --resume FOLDER``. The page polls the run folder's
``history.json``, which the run rewrites after every epoch, so curves grow as epochs finish.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import StudioError
from ...run.runs import list_runs, read_json

__all__ = ["Job", "Trainer"]

#: output lines of a run the page can show (the last ones)
LOG_LINES = 200


@dataclass
class Job:
    """One training process the studio started, and what it has printed."""

    process: subprocess.Popen[str]
    command: list[str]
    started: float = field(default_factory=time.time)
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    folder: Path | None = None

    def running(self) -> bool:
        return self.process.poll() is None


class Trainer:
    """Starts, stops and resumes runs (one at a time) and reads run folders under ``runs/``."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = root
        self.runs = root / "runs"
        self.python = python
        self.job: Job | None = None
        self._lock = threading.Lock()

    # --- processes ------------------------------------------------------------------------------
    def start(self, text: str, path: Path, epochs: int | None = None) -> dict[str, Any]:
        """Train ``text`` (the document at ``path``) in a new process; its run folder appears
        under ``runs/``, named after the file when the text is the saved file's, else ``model``."""
        saved = path.is_file() and path.read_text("utf-8", errors="replace") == text
        args = ["run", str(path) if saved else "-", "--out", str(self.runs)]
        if epochs is not None:
            args += ["--epochs", str(epochs)]
        return self._spawn(args, path.parent, None if saved else text)

    def resume(self, name: str) -> dict[str, Any]:
        """Finish a stopped (or crashed) run in its folder."""
        folder = self.folder(name)
        return self._spawn(["run", "--resume", str(folder)], self.root, None, folder)

    def stop(self) -> dict[str, Any]:
        """Ask the running process to stop (SIGTERM: the run saves what it finished)."""
        job = self.job
        if job is None or not job.running():
            raise StudioError("no run is in progress", code="NDL410")
        job.process.send_signal(signal.SIGTERM)
        return self.status()

    def close(self) -> None:
        """Stop a run still going when the studio exits, and wait for it to save."""
        job = self.job
        if job is not None and job.running():
            job.process.send_signal(signal.SIGTERM)
            try:
                job.process.wait(60)
            except subprocess.TimeoutExpired:
                job.process.kill()

    def _spawn(
        self, args: list[str], cwd: Path, text: str | None, folder: Path | None = None
    ) -> dict[str, Any]:
        with self._lock:
            if self.job is not None and self.job.running():
                raise StudioError(
                    "a run is already in progress",
                    code="NDL410",
                    help="stop it first, or wait for it to finish",
                )
            self.runs.mkdir(exist_ok=True)
            command = [self.python, "-m", "netdsl", *args]
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            self.job = Job(process, command, folder=folder)
        threading.Thread(target=self._feed, args=(self.job, text), daemon=True).start()
        return self.status()

    @staticmethod
    def _feed(job: Job, text: str | None) -> None:
        """Give the program on standard input, then collect the output lines."""
        assert job.process.stdin is not None and job.process.stdout is not None
        try:
            if text is not None:
                job.process.stdin.write(text)
            job.process.stdin.close()
        except OSError:  # the process ended before reading (its output says why)
            pass
        for line in job.process.stdout:
            job.log.append(line.rstrip("\n").rsplit("\r", 1)[-1])
        job.process.wait()

    def _find_folder(self, job: Job) -> Path | None:
        """The run folder of ``job``: the one whose ``metrics.json`` names its process."""
        if job.folder is None and self.runs.is_dir():
            for folder in self.runs.iterdir():
                m = read_json(folder / "metrics.json")
                if isinstance(m, dict) and (m.get("process") or {}).get("pid") == job.process.pid:
                    job.folder = folder
                    break
        return job.folder

    def status(self) -> dict[str, Any]:
        """The studio's current or last run: running or its exit code, folder, output."""
        job = self.job
        if job is None:
            return {"active": False, "running": False, "run": None, "log": [], "exit": None}
        folder = self._find_folder(job)
        return {
            "active": True,
            "running": job.running(),
            "exit": job.process.poll(),
            "run": folder.name if folder is not None else None,
            "log": list(job.log),
            "seconds": round(time.time() - job.started, 1),
        }

    # --- run folders ----------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        """The run folder ``runs/NAME`` (a plain name, never a path)."""
        folder = self.runs / name
        if (
            not name
            or name in (".", "..")
            or "/" in name
            or "\\" in name
            or folder.is_symlink()
            or not (folder / "model.net").is_file()
        ):
            raise StudioError(
                f"there is no run {name!r} under runs/",
                code="NDL410",
                help="the runs table lists them",
            )
        return folder

    def table(self) -> list[dict[str, Any]]:
        """Every run under ``runs/``, newest first (what ``netdsl runs`` lists)."""
        rows = list_runs(self.runs) if self.runs.is_dir() else []
        for row in rows:
            row.pop("path", None)  # the page needs names, not where the folder is on disk
        return rows

    def history(self, name: str) -> dict[str, Any]:
        """A run's per-epoch metrics so far, and its status."""
        folder = self.folder(name)
        data = read_json(folder / "history.json")
        epochs = data.get("epochs", []) if isinstance(data, dict) else []
        metrics = read_json(folder / "metrics.json")
        status = metrics.get("status") if isinstance(metrics, dict) else None
        planned = metrics.get("epochs_planned") if isinstance(metrics, dict) else None
        return {"name": name, "epochs": epochs, "status": status, "planned": planned}

    def confusion(self, name: str) -> dict[str, Any] | None:
        """A finished classifier run's test-set confusion matrix (classes, rows true)."""
        data = read_json(self.folder(name) / "confusion.json")
        if not isinstance(data, dict) or "matrix" not in data:
            return None
        matrix = data["matrix"]
        classes = [str(c) for c in data.get("classes") or range(len(matrix))]
        return {"classes": classes, "matrix": matrix}
