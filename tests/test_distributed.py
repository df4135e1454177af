"""Data-parallel training: the multi-process description (flags, environment), sharding and the
global batch, ``--distribute`` on two logical CPU devices (TensorFlow and JAX), and several JAX
processes on localhost through ``netdsl launch``: same weights everywhere, one run folder, and a
dead process stopping the others with a clear error within the timeout."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from datafiles import REAL_MNIST

from netdsl.errors import NetdslTrainingError
from netdsl.keras import distribute as dist
from netdsl.keras.training import Data
from netdsl.run.launch import free_port, worker_env
from netdsl.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
    ),
    "PYTHONUNBUFFERED": "1",
}
ENV.pop("KERAS_BACKEND", None)
HAS_JAX = __import__("importlib").util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(
    not HAS_JAX, reason="the jax backend is not installed (pip install 'netdsl[jax]')"
)
TINY = (
    "dataset: synthetic(train_size=512, test_size=128)\ninput: 8\nepochs: {epochs}\nbatch_size: 32\n"
    "seed: 5\ndense 16 relu -> dense 10 softmax\n"
)


# --- describing a multi-process run ------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ({}, {}, None),
        (
            {"coordinator": "10.0.0.1:29500", "num_processes": 2, "process_id": 1},
            {},
            ("10.0.0.1:29500", 2, 1),
        ),
        (
            {},
            {
                "KERAS_DISTRIBUTION_JOB_ADDRESSES": "h0:1234,h1:1234",
                "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                "KERAS_DISTRIBUTION_PROCESS_ID": "0",
            },
            ("h0:1234", 2, 0),
        ),
        (
            {},
            {"JAX_COORDINATOR_ADDRESS": "h:9", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"},
            ("h:9", 4, 3),
        ),
        (
            {"process_id": 0},
            {"JAX_COORDINATOR_ADDRESS": "h:9", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"},
            ("h:9", 2, 0),
        ),
    ],
    ids=["nothing", "flags", "keras-env", "jax-env", "flag-wins"],
)
def test_cluster_from_flags_and_environment(
    flags: dict[str, Any], env: dict[str, str], expected: Any
) -> None:
    cluster = dist.Cluster.resolve(**flags, environ=env)
    got = (
        None
        if cluster is None
        else (cluster.coordinator, cluster.num_processes, cluster.process_id)
    )
    assert got == expected


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"coordinator": "h:1"}, "not --num-processes or --process-id"),
        ({"coordinator": "nohost", "num_processes": 2, "process_id": 0}, "is not host:port"),
        ({"coordinator": "h:99999", "num_processes": 2, "process_id": 0}, "is not host:port"),
        (
            {"coordinator": "h:1", "num_processes": 2, "process_id": 2},
            "process id 2 is not in 0..1",
        ),
        ({"num_processes": 2, "process_id": 1}, "no coordinator address"),
    ],
    ids=["partial", "no-port", "bad-port", "bad-id", "no-coordinator"],
)
def test_bad_cluster_descriptions_are_clear_errors(flags: dict[str, Any], words: str) -> None:
    with pytest.raises(NetdslTrainingError) as caught:
        dist.Cluster.resolve(**flags, environ={})
    assert words in caught.value.message and caught.value.code == "NDL321"


def test_several_processes_on_tensorflow_are_refused_with_the_reason() -> None:
    with pytest.raises(NetdslTrainingError) as caught:
        dist.start("tensorflow", cluster=dist.Cluster("127.0.0.1:1", 2, 0))
    assert "needs the JAX backend" in caught.value.message
    assert "--backend jax" in (caught.value.help or "") and dist.TF_MULTI_WORKER_ISSUE in (
        caught.value.help or ""
    )


def test_an_unreachable_coordinator_is_a_clear_error_within_the_timeout() -> None:
    cluster = dist.Cluster(f"127.0.0.1:{free_port()}", 2, 1, timeout=1.5)  # nothing listens there
    start = time.monotonic()
    with pytest.raises(NetdslTrainingError) as caught:
        dist.wait_for_coordinator(cluster, interval=0.2)
    assert time.monotonic() - start < 10
    assert (
        "nothing answers at the coordinator" in caught.value.message
        and caught.value.code == "NDL321"
    )


def test_launch_gives_each_process_its_place() -> None:
    env = worker_env({"PATH": "/bin"}, "127.0.0.1:5", 3, 2)
    assert (
        env["KERAS_DISTRIBUTION_JOB_ADDRESSES"],
        env["KERAS_DISTRIBUTION_NUM_PROCESSES"],
        env["KERAS_DISTRIBUTION_PROCESS_ID"],
        env["KERAS_BACKEND"],
    ) == ("127.0.0.1:5", "3", "2", "jax")
    assert worker_env({"KERAS_BACKEND": "tensorflow"}, "a:1", 2, 0)["KERAS_BACKEND"] == "tensorflow"
    assert 0 < free_port() < 65536


_WORKERS = {  # what each fake process does, by its KERAS_DISTRIBUTION_PROCESS_ID
    "0": "print('epoch 1'); print('weights 0123456789abcdef'); raise SystemExit(3)",
    "1": "import time; print('weights fedcba9876543210', flush=True); time.sleep(60)",
}


def test_launch_kills_the_others_after_one_fails_and_keeps_each_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each process's lines come back prefixed; its weight fingerprint is kept; when one fails,
    the others are killed ``timeout`` seconds later and the first failure's status returned."""
    from netdsl.run import launch as launcher

    real = subprocess.Popen
    commands: list[list[str]] = []

    def fake(command: list[str], **kw: Any) -> Any:
        commands.append(command)
        script = _WORKERS[kw["env"]["KERAS_DISTRIBUTION_PROCESS_ID"]]
        return real([sys.executable, "-c", script], **kw)

    monkeypatch.setattr(launcher.subprocess, "Popen", fake)
    lines: list[str] = []
    start = time.monotonic()
    result = launcher.launch(2, ["m.net"], timeout=0.5, echo=lines.append, port=5)
    assert time.monotonic() - start < 30, "the survivor was killed, not waited for"
    assert commands[0][-4:] == ["run", "m.net", "--timeout", "0.5"] and len(commands) == 2
    assert result.returncodes[0] == 3 and result.returncodes[1] < 0 and result.returncode == 3
    assert result.weights == {0: "0123456789abcdef", 1: "fedcba9876543210"}
    assert "[0] epoch 1" in lines and "[1] weights fedcba9876543210" in lines
    assert "launch: process 1 still running 0.5 s after another failed; killing it" in lines


# --- shards and the global batch ---------------------------------------------------------------


def _data(n: int, m: int) -> Data:
    return Data(np.arange(n)[:, None], np.arange(n), np.arange(m)[:, None], np.arange(m))


def test_each_process_gets_an_equal_contiguous_shard() -> None:
    shards = [dist.Context("jax", ("a", "b", "c"), i, 3).shard(_data(10, 7)) for i in range(3)]
    assert [list(s.y_train) for s in shards] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert [list(s.y_test) for s in shards] == [[0, 1], [2, 3], [4, 5]]


def test_the_batch_size_is_the_global_batch() -> None:
    two_processes = dist.Context("jax", ("a", "b"), 0, 2)
    assert two_processes.local_batch(32) == 16
    with pytest.raises(NetdslTrainingError, match="does not split evenly over 2 devices"):
        two_processes.local_batch(31)
    two_devices = dist.Context("jax", ("a", "b"), local_devices=2)
    assert two_devices.local_batch(32) == 32
    assert len(two_devices.shard(_data(11, 5)).x_train) == 10  # every batch splits over 2 devices
    assert two_devices.trim_size(9) == 8 and len(two_devices.trim(_data(9, 4)).x_train) == 8
    mirrored = dist.Context("tensorflow", ("cpu:0", "cpu:1"), local_devices=2)
    assert mirrored.local_batch(31) == 31  # MirroredStrategy splits uneven batches itself
    assert mirrored.trim_size(11) == 11 and dist.local("tensorflow").local_batch(8) == 8


# --- one machine, two devices ------------------------------------------------------------------

TF_TWO_CPUS = (
    "import sys, tensorflow as tf\n"
    "cpu = tf.config.list_physical_devices('CPU')[0]\n"
    "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
    "from netdsl.tools.cli import main\n"
    "sys.argv = ['netdsl', 'run', *sys.argv[1:]]\n"
    "main()\n"
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=needs_jax)])
def test_distribute_trains_on_two_cpu_devices(tmp_path: Path, backend: str) -> None:
    program = tmp_path / "tiny.net"
    program.write_text(TINY.format(epochs=1))
    args = [
        str(program),
        "--distribute",
        "--backend",
        backend,
        "--out",
        str(tmp_path / "runs"),
        "-q",
    ]
    if backend == "tensorflow":
        command, env = [sys.executable, "-c", TF_TWO_CPUS, *args], ENV
    else:
        command = [sys.executable, "-m", "netdsl.tools.cli", "run", *args]
        env = {**ENV, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "process 0 of 1, 2 device(s)" in done.stdout
    [folder] = (tmp_path / "runs").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["options"]["distribute"] is True
    assert len(metrics["distributed"]["devices"]) == 2 and metrics["versions"]["backend"] == backend
    assert 0 <= metrics["test"]["accuracy"] <= 1 and (folder / "model.keras").exists()


# --- several processes on localhost ------------------------------------------------------------


def _launch(
    tmp_path: Path, program: Path, *run_args: str, n: int = 2
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "launch",
            "-n",
            str(n),
            "--timeout",
            "60",
            str(program),
            "--out",
            str(tmp_path / "runs"),
            "-q",
            *run_args,
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _weights(output: str) -> dict[int, str]:
    return {
        int(i): w
        for i, w in re.findall(
            r"^\[(\d)\] process \d of \d, .*weights ([0-9a-f]{16})$", output, re.M
        )
    }


@pytest.mark.slow
@needs_jax
def test_two_processes_train_the_same_weights_and_one_writes(tmp_path: Path) -> None:
    program = tmp_path / "tiny.net"
    program.write_text(TINY.format(epochs=2))
    done = _launch(tmp_path, program)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    weights = _weights(done.stdout)
    assert sorted(weights) == [0, 1] and weights[0] == weights[1]
    assert f"the same weights in every process ({weights[0]})" in done.stdout
    assert "[1] the run folder is written by process 0" in done.stdout
    [folder] = (tmp_path / "runs").iterdir()  # one folder, by process 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (
        metrics["distributed"]["num_processes"] == 2
        and metrics["distributed"]["weights"] == weights[0]
    )
    assert metrics["status"] == "finished" and metrics["epochs_completed"] == 2


@pytest.mark.slow
@needs_jax
def test_a_dead_process_stops_the_other_with_a_clear_error(tmp_path: Path) -> None:
    program = tmp_path / "long.net"
    program.write_text(TINY.format(epochs=100000))
    port, timeout = free_port(), 10
    logs = [tmp_path / f"p{i}.log" for i in range(2)]
    procs = []
    for i, log in enumerate(logs):
        with log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "netdsl.tools.cli",
                        "run",
                        str(program),
                        "--backend",
                        "jax",
                        "--out",
                        str(tmp_path / "runs"),
                        "--coordinator",
                        f"127.0.0.1:{port}",
                        "--num-processes",
                        "2",
                        "--process-id",
                        str(i),
                        "--timeout",
                        str(timeout),
                    ],
                    env=ENV,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
    try:
        deadline = time.monotonic() + 300
        while "Epoch 3/" not in logs[0].read_text() and time.monotonic() < deadline:
            assert procs[0].poll() is None and procs[1].poll() is None, logs[0].read_text()[-3000:]
            time.sleep(0.5)
        assert "Epoch 3/" in logs[0].read_text(), "training never started"
        procs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        rc = procs[0].wait(timeout=timeout + 30)
        waited = time.monotonic() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    output = logs[0].read_text()
    assert rc == 1, output[-3000:]
    assert waited < timeout + 30
    assert "error[NDL321]: process 0" in output and "Check failure stack trace" not in output
    [folder] = (tmp_path / "runs").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "process" in metrics["error"]
    assert not (folder / "model.keras").exists()


@pytest.mark.slow
@needs_jax
@pytest.mark.skipif(
    not (REAL_MNIST / "train-images-idx3-ubyte.gz").exists(),
    reason="real MNIST is not here (set NETDSL_MNIST)",
)
def test_two_processes_on_real_mnist_match_one(tmp_path: Path) -> None:
    """The seed model, one epoch: 2 processes end with identical weights, and test accuracy
    within 1 point of a single-process run."""
    seed = ROOT / "examples" / "mnist.net"
    common = ["--epochs", "1", "--seed", "7", "--data", str(REAL_MNIST)]
    done = _launch(tmp_path, seed, *common)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    weights = _weights(done.stdout)
    assert sorted(weights) == [0, 1] and weights[0] == weights[1]
    single = subprocess.run(
        [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "run",
            str(seed),
            "--backend",
            "jax",
            "--out",
            str(tmp_path / "single"),
            "-q",
            *common,
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    [two] = (tmp_path / "runs").iterdir()
    [one] = (tmp_path / "single").iterdir()
    acc2 = json.loads((two / "metrics.json").read_text())["test"]["accuracy"]
    acc1 = json.loads((one / "metrics.json").read_text())["test"]["accuracy"]
    assert acc1 > 0.9 and abs(acc1 - acc2) <= 0.01, (acc1, acc2)


def test_run_help_says_what_the_batch_means() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert "--distribute" in result.output and "global batch" in result.output
    assert "--coordinator" in result.output and "--process-id" in result.output


def test_the_guide_covers_the_flags_and_the_tensorflow_issue() -> None:
    guide = (ROOT / "docs" / "distributed.md").read_text(encoding="utf-8")
    assert dist.TF_MULTI_WORKER_ISSUE in guide and "global batch" in guide and "firewall" in guide
    help_text = CliRunner().invoke(main, ["run", "--help"]).output
    for flag in set(re.findall(r"(--[a-z][a-z-]+)", guide)) - {"--data", "--out", "--epochs"}:
        assert flag in help_text, flag
    for names in dist.ENV.values():
        assert all(name in guide for name in names)


# --- the run driver and multi-process runs ----------------------------------------------------


def test_resuming_a_multi_process_run_is_refused(tmp_path: Path) -> None:
    from netdsl.checking.checker import check
    from netdsl.errors import NetdslError
    from netdsl.run.driver import resume_run

    folder = tmp_path / "runs" / "tiny"
    folder.mkdir(parents=True)
    (folder / "model.net").write_text(TINY.format(epochs=2))
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "status": "stopped",
                "options": {
                    "cluster": {
                        "coordinator": "h:1",
                        "num_processes": 2,
                        "process_id": 0,
                        "timeout": 60.0,
                    }
                },
            }
        )
    )
    model = check(TINY.format(epochs=2), filename=str(folder / "model.net"))
    with pytest.raises(NetdslError) as caught:
        resume_run(folder, model, quiet=True)
    assert caught.value.code == "NDL322" and "several processes" in caught.value.message
    assert sorted(p.name for p in folder.iterdir()) == [
        "metrics.json",
        "model.net",
    ]  # nothing written


def test_resume_with_cluster_flags_is_refused_on_the_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "model.net").write_text(TINY.format(epochs=2))
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--resume",
            str(folder),
            "--coordinator",
            "127.0.0.1:1",
            "--num-processes",
            "2",
            "--process-id",
            "0",
        ],
    )
    assert result.exit_code == 1
    assert "NDL322" in result.output and "cannot be resumed" in result.output
