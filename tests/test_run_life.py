"""The life of a run folder (issues 20, 21, 27): resume checks the program and the data it
started with and locks its folder; NaN at the last step is a failure, not a finished run;
signals before the folder exists exit as documented; any program name trains; the report and
the runs table show a regression's metric; a killed run shows as crashed.

Signals go to real subprocesses; the rest runs in-process on tiny synthetic or .npz data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from datafiles import write_csv

from netdsl.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICK = (
    "dataset: synthetic(train_size=128, test_size=32)\ninput: 8\nepochs: 3\nseed: 1\n"
    "dense 8 relu -> dense 10 softmax\n"
)
NPZ = "dataset: npz\nepochs: 2\nseed: 1\ndense 8 relu -> dense 3 softmax\n"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NETDSL_TF_LOGS"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    )
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _cli(*args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(main, ["--no-plugins", *args], **kwargs)


def _metrics(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "metrics.json").read_text())


def _one(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


@pytest.fixture
def stop_in_epoch(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException | int]]:
    """Set ``[epoch, exception]``: a new run (not a resume) raises it as that epoch (0-based)
    begins, as a Ctrl-C or SIGTERM landing there would."""
    import keras

    plan: list[Any] = []
    real_fit = keras.Model.fit

    def fit(self: Any, *a: Any, **k: Any) -> Any:
        class Stop(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                if plan and epoch == plan[0] and not k.get("initial_epoch"):
                    raise plan[1]

        k["callbacks"] = [Stop(), *k.get("callbacks", [])]
        return real_fit(self, *a, **k)

    monkeypatch.setattr(keras.Model, "fit", fit)
    yield plan


def _stopped_run(
    tmp_path: Path, plan: list[Any], program: str = QUICK, *extra: str, name: str = "quick.net"
) -> Path:
    """A run interrupted as its second epoch begins: one epoch saved, status stopped."""
    spec = tmp_path / name
    spec.write_text(program)
    plan[:] = [1, KeyboardInterrupt()]
    result = _cli(
        "run", str(spec), "--out", str(tmp_path / "runs"), "-q", *extra, catch_exceptions=False
    )
    assert result.exit_code == 130, result.output
    folder = _one(tmp_path / "runs")
    assert _metrics(folder)["status"] == "stopped"
    return folder


def _arrays(path: Path, shift: float = 0.0) -> None:
    rng = np.random.default_rng(0)
    y, yt = rng.integers(0, 3, 96), rng.integers(0, 3, 24)
    np.savez(
        path,
        x_train=(rng.random((96, 4)) + shift).astype(np.float32),
        y_train=y,
        x_test=rng.random((24, 4)).astype(np.float32),
        y_test=yt,
    )


# --- resume: the same program, the same data, one process at a time -------------------------


@pytest.mark.slow
def test_resume_refuses_an_edited_program_until_told(
    tmp_path: Path, stop_in_epoch: list[Any]
) -> None:
    folder = _stopped_run(tmp_path, stop_in_epoch)
    spec = folder / "model.net"
    spec.write_text(
        spec.read_text().replace("epochs: 3", "epochs: 4").replace("dense 8 relu", "dense 8 tanh")
    )
    before = (folder / "metrics.json").read_text()
    refused = _cli("run", "--resume", str(folder), "-q")
    assert refused.exit_code == 1 and "error[NDL306]" in refused.output, refused.output
    assert "setting `epochs`: 3 then, 4 now" in refused.output
    assert "the network (or a block) is not the one the run started with" in refused.output
    assert "--accept-changes" in refused.output and "\\x0a" not in refused.output
    assert (folder / "metrics.json").read_text() == before, "a refused resume writes nothing"
    accepted = _cli("run", "--resume", str(folder), "--accept-changes")
    assert accepted.exit_code == 0, accepted.output
    assert "training quick:" in accepted.output, "a resumed run's header names the run"
    record = json.loads((folder / "fingerprint.json").read_text())
    assert (
        len(record["changes"]) == 1
        and "setting `epochs`: 3 then, 4 now" in record["changes"][0]["changed"]
    )
    assert _metrics(folder)["epochs_completed"] == 4


@pytest.mark.slow
def test_resume_finds_the_data_where_the_run_did_and_refuses_other_data(
    tmp_path: Path, stop_in_epoch: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "d.npz"
    _arrays(data)
    monkeypatch.chdir(tmp_path)
    folder = _stopped_run(tmp_path, stop_in_epoch, NPZ, "--data", "d.npz")
    record = (folder / "data.json").read_text()
    assert json.loads(record)["data_path"] == str(data), "data.json holds the absolute path"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the printed hint works from another folder
    other = tmp_path / "other.npz"
    _arrays(other, shift=1.0)
    refused = _cli("run", "--resume", str(folder), "--data", str(other), "-q")
    assert refused.exit_code == 1 and "error[NDL306]" in refused.output, refused.output
    assert "the data: the same sizes, different contents" in refused.output
    assert (folder / "data.json").read_text() == record, (
        "data.json is never rewritten to hide a change"
    )
    data.rename(tmp_path / "moved.npz")
    lost = _cli("run", "--resume", str(folder), "-q")
    assert lost.exit_code == 1 and f"the run read its data from {data} (data.json)" in lost.output
    (tmp_path / "moved.npz").rename(data)
    resumed = _cli("run", "--resume", str(folder), "-q")
    assert resumed.exit_code == 0, resumed.output
    assert _metrics(folder)["status"] == "finished" and (folder / "data.json").read_text() == record


@pytest.mark.slow
def test_a_csv_run_reads_its_program_relative_file_and_resumes_from_anywhere(
    tmp_path: Path, stop_in_epoch: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21.3/21.7: ``csv("t.csv")`` is the program folder's file; ``data.json`` and the run
    folder's ``model.net`` hold it absolute, so ``--resume`` works from another folder."""
    prog = tmp_path / "prog"
    write_csv(prog / "t.csv", 60)
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    folder = _stopped_run(
        prog,
        stop_in_epoch,
        'dataset: csv("t.csv")\nepochs: 2\nseed: 1\ndense 8 relu -> dense 3 softmax\n',
    )
    record = json.loads((folder / "data.json").read_text())
    assert record["data_path"] == record["dataset"]["args"]["path"] == str(prog / "t.csv")
    assert f'csv(path="{prog / "t.csv"}"' in (folder / "model.net").read_text()
    monkeypatch.chdir(tmp_path)
    resumed = _cli("run", "--resume", str(folder), "-q")
    assert resumed.exit_code == 0, resumed.output
    assert _metrics(folder)["status"] == "finished" and _metrics(folder)["epochs_completed"] == 2


@pytest.mark.slow
def test_accepted_data_change_is_recorded_in_data_json(
    tmp_path: Path, stop_in_epoch: list[Any]
) -> None:
    data = tmp_path / "d.npz"
    _arrays(data)
    folder = _stopped_run(tmp_path, stop_in_epoch, NPZ, "--data", str(data))
    _arrays(data, shift=1.0)
    done = _cli("run", "--resume", str(folder), "--accept-changes", "-q")
    assert done.exit_code == 0, done.output
    record = json.loads((folder / "data.json").read_text())
    assert record["data_path"] == str(data) and len(record["changed_on_resume"]) == 1
    assert json.loads((folder / "fingerprint.json").read_text())["changes"][0]["data_before"][
        "sha256"
    ]


def _hold(folder: Path) -> subprocess.Popen[str]:
    """Another process working in ``folder``: it holds the lock and says it runs."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom netdsl.run.runs import RunFolder, RunLock, "
        "process_record\nf = RunFolder(Path(sys.argv[1]))\nRunLock(f.path).acquire()\n"
        "f.meta = {**f.metrics(), 'process': process_record()}\nf.set_status('running')\n"
        "print('locked', flush=True)\ntime.sleep(300)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], env=_env(), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.slow
def test_a_folder_in_use_is_refused_and_a_killed_holder_shows_as_crashed(
    tmp_path: Path, stop_in_epoch: list[Any]
) -> None:
    folder = _stopped_run(tmp_path, stop_in_epoch)
    holder = _hold(folder)
    try:
        refused = _cli("run", "--resume", str(folder), "-q")
        assert refused.exit_code == 1 and "is in use by another netdsl process" in refused.output
        assert f"process {holder.pid} on {socket.gethostname()}" in refused.output
        listed = json.loads(_cli("runs", str(tmp_path / "runs"), "--json").output)["runs"]
        assert listed[0]["status"] == "running"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    listed = json.loads(_cli("runs", str(tmp_path / "runs"), "--json").output)["runs"]
    assert listed[0]["status"] == "crashed", "a running run whose process is gone is crashed"
    assert "crashed" in _cli("runs", str(tmp_path / "runs")).output
    resumed = _cli("run", "--resume", str(folder), "-q")
    assert resumed.exit_code == 0 and "resumed after epoch 1" in resumed.output, resumed.output


def test_a_running_run_without_a_lock_is_crashed_when_its_pid_is_dead(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name, pid in (("gone", dead.pid), ("alive", os.getpid())):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.net").write_text(QUICK)
        (folder / "metrics.json").write_text(
            json.dumps(
                {
                    "status": "running",
                    "started": "2026-01-01T00:00:00",
                    "process": {
                        "pid": pid,
                        "host": socket.gethostname(),
                        "started": "2026-01-01T00:00:00",
                    },
                }
            )
        )
    rows = {
        r["name"]: r["status"]
        for r in json.loads(_cli("runs", str(tmp_path), "--json").output)["runs"]
    }
    assert rows == {"gone": "crashed", "alive": "running"}


@pytest.mark.parametrize("budget", [1 << 30, 700, 0], ids=["whole", "part", "sizes-only"])
def test_streamed_data_is_fingerprinted_by_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    from netdsl.keras.training import StreamData
    from netdsl.run import fingerprint as fp
    from netdsl.vocab.components import Streams

    monkeypatch.setattr(fp, "FULL_HASH_BYTES", budget)

    def digest(folder: Path) -> str | None:
        streams = Streams(lambda b, s: None, lambda b: None, 8, 2, record={"source": str(folder)})
        return fp.data_print(StreamData(streams, "sparse", 2), None)["sha256"]

    for name in ("a", "b"):
        (tmp_path / name / "cat").mkdir(parents=True)
        (tmp_path / name / "cat" / "1.png").write_bytes(b"x" * 600)
        (tmp_path / name / "cat" / "2.png").write_bytes(b"y" * 600)
    assert digest(tmp_path / "a") == digest(tmp_path / "b"), "a copy elsewhere is the same data"
    (tmp_path / "b" / "cat" / "2.png").write_bytes(b"z" * 600)
    assert (digest(tmp_path / "a") != digest(tmp_path / "b")) is (budget > 600)
    (tmp_path / "b" / "cat" / "2.png").write_bytes(b"z" * 601)
    assert digest(tmp_path / "a") != digest(tmp_path / "b"), "a size change always shows"


# --- how a run ends ---------------------------------------------------------------------------


@pytest.mark.slow
def test_nan_weights_after_the_last_step_fail_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    from netdsl.run import driver

    class Poison(keras.callbacks.Callback):  # the last step's update overflowed: the loss was fine
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 2:
                w = self.model.trainable_variables[0]
                w.assign(np.full(w.shape, np.nan, dtype="float32"))

    real_fit = driver.fit
    monkeypatch.setattr(driver, "fit", lambda *a, **k: real_fit(*a, **k, callbacks=[Poison()]))
    spec = tmp_path / "quick.net"
    spec.write_text(QUICK)
    result = _cli("run", str(spec), "--out", str(tmp_path / "runs"), "-q")
    assert result.exit_code == 1, result.output
    assert (
        "error[NDL303]: the weights (after the epoch's last step) became NaN in epoch 3"
        in result.output
    )
    assert "test loss nan" not in result.output and "Traceback" not in result.output
    metrics = _metrics(_one(tmp_path / "runs"))
    assert (metrics["status"], metrics["code"], metrics["epochs_completed"]) == (
        "failed",
        "NDL303",
        2,
    )


@pytest.mark.slow
def test_a_nan_test_loss_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "netdsl.run.driver.evaluate", lambda *a, **k: {"loss": float("nan"), "accuracy": 0.1}
    )
    spec = tmp_path / "quick.net"
    spec.write_text(QUICK)
    result = _cli("run", str(spec), "--out", str(tmp_path / "runs"), "-q")
    assert (
        result.exit_code == 1
        and "error[NDL303]: the test loss is nan after 3 epoch(s)" in result.output
    )
    metrics = _metrics(_one(tmp_path / "runs"))
    assert metrics["status"] == "failed" and metrics["code"] == "NDL303" and "test" not in metrics


@pytest.mark.slow
def test_sigterm_before_the_first_epoch_ends_says_what_is_true(
    tmp_path: Path, stop_in_epoch: list[Any]
) -> None:
    from netdsl.run.runs import Stopped

    spec = tmp_path / "quick.net"
    spec.write_text(QUICK)
    stop_in_epoch[:] = [0, Stopped("SIGTERM")]
    result = _cli("run", str(spec), "--out", str(tmp_path / "runs"), "-q")
    assert result.exit_code == 143, result.output
    folder = _one(tmp_path / "runs")
    assert (
        f"stopped by SIGTERM before the first epoch finished: no epoch is saved yet (netdsl run "
        f"--resume {folder}/ starts the run again from epoch 1)"
    ) in result.output
    assert "0 finished epoch(s); they are saved" not in result.output
    stop_in_epoch.clear()
    resumed = _cli("run", "--resume", str(folder), "-q")
    assert resumed.exit_code == 0 and _metrics(folder)["epochs_completed"] == 3, resumed.output


def _open_writer(fifo: Path, proc: subprocess.Popen[str], timeout: float = 120) -> int:
    """Open ``fifo`` for writing once ``proc`` has it open for reading (it then blocks there)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            if proc.poll() is not None:
                pytest.fail(f"netdsl ended early: {proc.communicate()}")
            time.sleep(0.02)
    proc.kill()
    pytest.fail("netdsl never opened the program")


@pytest.mark.parametrize(
    "sig, code, said",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_before_the_run_folder_exists(
    tmp_path: Path, sig: int, code: int, said: str
) -> None:
    program = tmp_path / "prog.net"
    os.mkfifo(program)  # netdsl blocks reading it: the signal lands before any folder exists
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "--no-plugins",
            "run",
            str(program),
            "--out",
            str(tmp_path / "runs"),
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    fd = _open_writer(program, proc)
    try:
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            where = Path(f"/proc/{proc.pid}/wchan")
            state = where.read_text() if where.exists() else "?"
            proc.kill()
            pytest.fail(
                f"netdsl did not stop on the signal (blocked in {state}): {proc.communicate()}"
            )
    finally:
        os.close(fd)
    assert proc.returncode == code, (out, err)
    assert f"{said} before training started; no run folder was made" in err
    assert "Aborted" not in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_data_that_cannot_be_read_leaves_no_run_folder(tmp_path: Path) -> None:
    spec = tmp_path / "m.net"
    spec.write_text("dataset: npz\ndense 3 softmax\n")
    result = _cli(
        "run", str(spec), "--data", str(tmp_path / "nowhere.npz"), "--out", str(tmp_path / "runs")
    )
    assert (
        result.exit_code == 1
        and "nowhere.npz" in result.output
        and "Traceback" not in result.output
    )
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_a_failure_before_the_first_epoch_leaves_no_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdsl.errors import NetdslSettingError

    def refuse(*a: Any, **k: Any) -> Any:  # what fit raises before training starts
        raise NetdslSettingError("`validation_split` needs the data in memory", code="NDL004")

    monkeypatch.setattr("netdsl.run.driver.fit", refuse)
    spec = tmp_path / "quick.net"
    spec.write_text(QUICK)
    result = _cli("run", str(spec), "--out", str(tmp_path / "runs"), "-q")
    assert result.exit_code == 1 and "error[NDL004]" in result.output
    assert "records it" not in result.output
    assert not list((tmp_path / "runs").iterdir()), "nothing in it was worth keeping"


# --- names, reports, the runs table ---------------------------------------------------------

NAMES = [
    ("stdin", "-", "stdin"),
    ("underscore", "_draft.net", "draft"),
    ("accent", "modèle.net", "modele"),
    ("digits", "2024.net", "netdsl_2024"),
    ("nothing-left", "日本.net", "netdsl"),
]


@pytest.mark.parametrize("filename, expected", [n[1:] for n in NAMES], ids=[n[0] for n in NAMES])
def test_keras_names_are_safe_for_every_backend(filename: str, expected: str) -> None:
    from netdsl.keras.compiler import keras_name

    assert keras_name("<stdin>" if filename == "-" else filename) == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "filename", ["-", "_draft.net", "modèle.net"], ids=["stdin", "underscore", "accent"]
)
def test_any_program_name_trains_on_tensorflow(tmp_path: Path, filename: str) -> None:
    import keras

    assert keras.backend.backend() == "tensorflow"
    program = QUICK.replace("epochs: 3", "epochs: 1")
    if filename == "-":
        result = _cli("run", "-", "--out", str(tmp_path / "runs"), "-q", input=program)
    else:
        (tmp_path / filename).write_text(program)
        result = _cli("run", str(tmp_path / filename), "--out", str(tmp_path / "runs"), "-q")
    assert result.exit_code == 0, result.output
    assert _metrics(_one(tmp_path / "runs"))["status"] == "finished"


@pytest.mark.slow
def test_regression_reports_its_mae_and_the_table_says_so(tmp_path: Path) -> None:
    spec = tmp_path / "reg.net"
    spec.write_text(
        "dataset: synthetic(train_size=64, test_size=16, task=regression)\ninput: 4\n"
        "epochs: 1\nseed: 1\ndense 4 relu -> dense 1\n"
    )
    result = _cli("run", str(spec), "--out", str(tmp_path / "runs"), "-q")
    assert result.exit_code == 0, result.output
    test = _metrics(_one(tmp_path / "runs"))["test"]
    assert f"test MAE {test['mean_absolute_error']:.4g}" in result.output
    table = _cli("runs", str(tmp_path / "runs")).output.splitlines()
    assert "TEST MAE" in table[0] and "TEST ACC" not in table[0]
    assert f"{test['mean_absolute_error']:.4g}" in table[1]


def test_the_runs_table_names_the_main_metric_of_each_kind(tmp_path: Path) -> None:
    from netdsl.run.runs import list_runs
    from netdsl.tools.runs_view import runs_table

    for name, kind, test in (
        ("c", "classes", {"loss": 0.5, "accuracy": 0.9}),
        ("r", "regression", {"loss": 9.0, "mean_absolute_error": 2.5}),
    ):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.net").write_text(QUICK)
        (folder / "metrics.json").write_text(
            json.dumps({"status": "finished", "started": name, "test": test})
        )
        (folder / "data.json").write_text(json.dumps({"target": {"kind": kind}}))
    text = runs_table(list_runs(tmp_path)).splitlines()
    assert "TEST METRIC" in text[0]
    assert "mae 2.5" in text[1] and "accuracy 90.00%" in text[2]
    only = runs_table([r for r in list_runs(tmp_path) if r["name"] == "r"]).splitlines()
    assert "TEST MAE" in only[0]


def test_runs_sorts_by_mae(tmp_path: Path) -> None:
    for name, mae in (("a", 3.0), ("b", 1.0)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.net").write_text(QUICK)
        (folder / "metrics.json").write_text(
            json.dumps(
                {
                    "status": "finished",
                    "started": name,
                    "test": {"loss": 1.0, "mean_absolute_error": mae},
                }
            )
        )
    listed = json.loads(_cli("runs", str(tmp_path), "--sort", "mae", "--json").output)["runs"]
    assert [r["name"] for r in listed] == ["b", "a"]


def test_error_text_prints_newlines_as_newlines() -> None:
    from netdsl.errors import NetdslDataError
    from netdsl.lang.diagnostics import render
    from netdsl_builtins.mnist_files import _not_found_message

    text = render(
        NetdslDataError(
            _not_found_message(["NETDSL_MNIST: not set", "Keras cache: /x (not there)"]),
            help="first line\nsecond line\x1b",
        )
    )
    lines = text.splitlines()
    assert lines[0] == "error[NDL100]: MNIST not found. Looked in:"
    assert lines[1] == "  - NETDSL_MNIST: not set" and "\\x0a" not in text
    assert "  = help: first line" in lines and "    second line\\x1b" in lines


# --- launch ---------------------------------------------------------------------------------


def test_launch_keeps_native_log_noise_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from netdsl.run import launch as launcher

    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1.0 15055 port.cc:153] oneDNN custom operations are on.",
        "[Gloo] Rank 0 is connected to 1 peer ranks. Expected number of connected peer ranks is : 1",
    )
    script = "".join(f"print({line!r})\n" for line in (*noise, "test loss 1.0"))
    real = subprocess.Popen
    monkeypatch.setattr(
        launcher.subprocess,
        "Popen",
        lambda command, **kw: real([sys.executable, "-c", script], **kw),
    )
    for native, expected in (
        (False, ["[0] test loss 1.0"]),
        (True, [*(f"[0] {line}" for line in noise), "[0] test loss 1.0"]),
    ):
        lines: list[str] = []
        assert launcher.launch(1, ["m.net"], echo=lines.append, native_logs=native).ok
        assert lines == expected
