"""The run folder under faults: kill -9 and resume, SIGTERM, Ctrl-C in every phase, a full disk,
a crash, a bad --out, damaged checkpoints. Signals go to real subprocesses; the disk is a patched
writer. Every run uses the built-in `synthetic` dataset, so no data files are needed."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from netdsl.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]

#: a few seconds an epoch on a shared CPU, so a signal can land inside epoch 3
SLOW = (
    "dataset: synthetic(train_size=12000, test_size=64)\ninput: 16\nbatch_size: 8\nepochs: 4\nseed: 7\n"
    "dense 64 relu -> dropout 0.2 -> dense 10 softmax\n"
)
#: tiny and quick: for the in-process phase tests
QUICK = (
    "dataset: synthetic(train_size=256, test_size=64)\ninput: 8\nepochs: 3\nseed: 1\n"
    "dense 16 relu -> dense 10 softmax\n"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    )
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "--no-plugins",
            "run",
            *args,
            "-q",
            "--threads",
            "1",
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )


def _one_folder(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def _wait_for(
    path_glob: tuple[Path, str], proc: subprocess.Popen[str], timeout: float = 240
) -> Path:
    base, pattern = path_glob
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = sorted(base.glob(pattern)) if base.exists() else []
        if found:
            return found[0]
        if proc.poll() is not None:
            pytest.fail(
                f"the run ended before {pattern} appeared:\n{proc.stdout.read() if proc.stdout else ''}"
            )
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"{pattern} did not appear in {timeout} s")


def _metrics(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "metrics.json").read_text())


def _weights(folder: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(folder / "model.keras").get_weights()


@pytest.mark.slow
def test_sigkill_in_epoch_3_and_resume_ends_with_the_same_weights(tmp_path: Path) -> None:
    spec = tmp_path / "slow.net"
    spec.write_text(SLOW)
    whole = _start(
        str(spec), "--out", str(tmp_path / "whole")
    )  # the uninterrupted twin, side by side
    killed = _start(str(spec), "--out", str(tmp_path / "killed"))
    _wait_for((tmp_path / "killed", "*/checkpoints/epoch-0002.json"), killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait(60)
    folder = _one_folder(tmp_path / "killed")
    assert not (folder / "checkpoints" / "epoch-0003.json").exists(), (
        "the kill must land inside epoch 3"
    )
    assert (
        _metrics(folder)["status"] == "running"
    )  # what a kill -9 leaves: the last word was "running"
    listed = CliRunner().invoke(main, ["runs", str(tmp_path / "killed"), "--json"]).output
    assert json.loads(listed)["runs"][0]["status"] == "crashed", (
        "netdsl runs sees the process is gone"
    )
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "--no-plugins",
            "run",
            "--resume",
            str(folder),
            "-q",
            "--threads",
            "1",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed after epoch 2" in resumed.stdout
    assert whole.wait(600) == 0
    metrics = _metrics(folder)
    assert (
        metrics["status"] == "finished"
        and metrics["epochs_completed"] == 4
        and len(metrics["resumed"]) == 1
    )
    history = json.loads((folder / "history.json").read_text())["epochs"]
    assert len(history) == 4, "each epoch once in the resumed run's history"
    assert len((folder / "history.csv").read_text().splitlines()) == 1 + 4
    twin = _one_folder(tmp_path / "whole")
    assert history == json.loads((twin / "history.json").read_text())["epochs"]
    for a, b in zip(_weights(folder), _weights(twin), strict=True):
        assert np.array_equal(a, b), (
            "resumed weights must be bit-identical to the uninterrupted run's"
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, code, reason",
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "interrupt")],
    ids=["sigterm", "ctrl-c"],
)
def test_signal_mid_epoch_3_keeps_the_finished_epochs(
    tmp_path: Path, sig: int, code: int, reason: str
) -> None:
    spec = tmp_path / "slow.net"
    spec.write_text(SLOW)
    proc = _start(str(spec), "--out", str(tmp_path / "runs"))
    _wait_for((tmp_path / "runs", "*/checkpoints/epoch-0002.json"), proc)
    proc.send_signal(sig)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == code, output
    assert "Traceback" not in output and (
        "stopped by SIGTERM" in output or "interrupted after 2" in output
    )
    folder = _one_folder(tmp_path / "runs")
    metrics = _metrics(folder)
    assert (
        metrics["status"] == "stopped"
        and metrics["reason"] == reason
        and metrics["phase"] == "fitting"
    )
    assert metrics["epochs_completed"] == 2
    assert (folder / "STOPPED").exists() and (folder / "model.keras").exists()
    assert len(json.loads((folder / "history.json").read_text())["epochs"]) == 2


# --- in-process: Ctrl-C in every phase, crashes, a full disk ----------------------------------


def _run(tmp_path: Path, *extra: str) -> Any:
    spec = tmp_path / "quick.net"
    spec.write_text(QUICK)
    return CliRunner().invoke(
        main,
        ["--no-plugins", "run", str(spec), "--out", str(tmp_path / "runs"), "-q", *extra],
        catch_exceptions=False,
    )


def _raise(exc: BaseException) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


PHASES = [
    # (what is patched, phase, epochs kept, model kept); loading comes before the folder (below)
    ("netdsl.run.driver.evaluate", "evaluating", 3, True),
    ("netdsl.run.driver.confusion", "evaluating", 3, True),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "target, phase, epochs, model", PHASES, ids=[p[0].rsplit(".", 1)[1] for p in PHASES]
)
def test_ctrl_c_in_any_phase_writes_stopped_and_keeps_epochs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    phase: str,
    epochs: int,
    model: bool,
) -> None:
    monkeypatch.setattr(target, _raise(KeyboardInterrupt()))
    result = _run(tmp_path)
    assert result.exit_code == 130, result.output
    folder = _one_folder(tmp_path / "runs")
    metrics = _metrics(folder)
    assert (metrics["status"], metrics["phase"], metrics["epochs_completed"]) == (
        "stopped",
        phase,
        epochs,
    )
    assert (folder / "STOPPED").exists()
    assert (folder / "model.keras").exists() is model
    assert (folder / "model.net").exists()


def test_ctrl_c_while_loading_makes_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("netdsl.run.driver.load_data", _raise(KeyboardInterrupt()))
    result = _run(tmp_path)
    assert result.exit_code == 130, result.output
    assert "interrupted before training started; no run folder was made" in result.output
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_ctrl_c_while_saving_keeps_the_checkpoints_and_no_partial_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    def interrupted_save(self: Any, path: Any, *a: Any, **k: Any) -> None:
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted_save)
    result = _run(tmp_path)
    assert result.exit_code == 130, result.output
    folder = _one_folder(tmp_path / "runs")
    metrics = _metrics(folder)
    assert (metrics["status"], metrics["phase"], metrics["epochs_completed"]) == (
        "stopped",
        "saving",
        3,
    )
    assert not (folder / "model.keras").exists(), "a half-written model never takes the real name"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], (
        "no temporary files are left"
    )
    assert (folder / "checkpoints" / "epoch-0003.npz").exists()


@pytest.mark.slow
def test_disk_full_while_saving_is_a_clean_error_with_a_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    def full_disk(self: Any, path: Any, *a: Any, **k: Any) -> None:
        Path(path).write_bytes(b"\0" * 196_608)  # what a full disk left: a truncated file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(keras.Model, "save", full_disk)
    result = CliRunner().invoke(
        main, ["--no-plugins", "run", str(_spec(tmp_path)), "--out", str(tmp_path / "runs"), "-q"]
    )
    assert result.exit_code == 1
    assert "error[NDL305]: saving failed: No space left on device" in result.output
    assert "Traceback" not in result.output
    folder = _one_folder(tmp_path / "runs")
    assert not (folder / "model.keras").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    metrics = _metrics(folder)
    assert (
        metrics["status"] == "failed"
        and "No space left" in metrics["error"]
        and metrics["phase"] == "saving"
    )


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "quick.net"
    spec.write_text(QUICK)
    return spec


def test_atomic_write_leaves_the_old_file_when_the_disk_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdsl.run.runs import write_json

    target = tmp_path / "metrics.json"
    write_json(target, {"status": "running"})
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_json(target, {"status": "finished", "big": "x" * 10_000})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert json.loads(target.read_text()) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.slow
def test_a_crash_after_the_folder_exists_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("netdsl.run.driver.evaluate", _raise(RuntimeError("boom")))
    result = CliRunner().invoke(
        main, ["--no-plugins", "run", str(_spec(tmp_path)), "--out", str(tmp_path / "runs"), "-q"]
    )
    assert result.exit_code == 1
    assert "error[NDL304]: the run crashed while evaluating: RuntimeError: boom" in result.output
    assert "Traceback" not in result.output
    metrics = _metrics(_one_folder(tmp_path / "runs"))
    assert metrics["status"] == "crashed" and metrics["error"].endswith("RuntimeError: boom")


@pytest.mark.parametrize("out", ["afile/sub", "afile"], ids=["under-a-file", "a-file"])
def test_out_that_is_not_a_folder_is_a_clean_error(tmp_path: Path, out: str) -> None:
    (tmp_path / "afile").write_text("not a folder\n")
    result = CliRunner().invoke(
        main, ["--no-plugins", "run", str(_spec(tmp_path)), "--out", str(tmp_path / out)]
    )
    assert result.exit_code == 1, result.output
    assert "error[NDL305]: cannot create run folders in" in result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "afile").read_text() == "not a folder\n"


def test_unwritable_out_is_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "locked"
    out.mkdir()
    real_mkdir = Path.mkdir

    def refuse(
        self: Path, *a: Any, **k: Any
    ) -> None:  # what chmod 555 does for a user who is not root
        if self.parent == out:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", refuse)
    result = CliRunner().invoke(
        main, ["--no-plugins", "run", str(_spec(tmp_path)), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert (
        "error[NDL305]: cannot create run folders in" in result.output
        and "Permission denied" in result.output
    )
    assert "Traceback" not in result.output


# --- checkpoints -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage", ["truncate", "flip", "manifest"], ids=["truncated", "bit-flip", "bad-manifest"]
)
def test_a_damaged_checkpoint_is_skipped_and_the_one_before_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    import keras

    real_fit = keras.Model.fit

    def stop_in_epoch_3(self: Any, *a: Any, **k: Any) -> Any:
        class Stop(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                if epoch == 2 and not k.get("initial_epoch"):
                    raise KeyboardInterrupt

        k["callbacks"] = [Stop(), *k.get("callbacks", [])]
        return real_fit(self, *a, **k)

    monkeypatch.setattr(keras.Model, "fit", stop_in_epoch_3)
    assert _run(tmp_path).exit_code == 130
    folder = _one_folder(tmp_path / "runs")
    newest = folder / "checkpoints" / "epoch-0002.npz"
    if damage == "truncate":
        newest.write_bytes(newest.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(newest.read_bytes())
        data[len(data) // 2] ^= 0xFF
        newest.write_bytes(bytes(data))
    else:
        newest.with_suffix(".json").write_text('{"epoch": 2, "sha')
    result = CliRunner().invoke(
        main, ["--no-plugins", "run", "--resume", str(folder), "-q"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert (
        "checkpoint epoch-0002 is damaged" in result.output
        and "resumed after epoch 1" in result.output
    )
    history = json.loads((folder / "history.json").read_text())["epochs"]
    assert len(history) == 3
    assert _metrics(folder)["status"] == "finished" and not (folder / "STOPPED").exists()


def test_resume_refuses_a_finished_run_and_a_non_run(tmp_path: Path) -> None:
    folder = tmp_path / "done"
    folder.mkdir()
    (folder / "model.net").write_text(QUICK)
    (folder / "metrics.json").write_text('{"status": "finished"}')
    result = CliRunner().invoke(main, ["--no-plugins", "run", "--resume", str(folder)])
    assert result.exit_code == 1 and "already finished" in result.output
    result = CliRunner().invoke(main, ["--no-plugins", "run", "--resume", str(tmp_path)])
    assert result.exit_code == 1 and "is not a run folder" in result.output
    result = CliRunner().invoke(
        main, ["--no-plugins", "run", "--resume", str(folder), "--epochs", "9"]
    )
    assert result.exit_code == 2 and "no setting overrides" in result.output
