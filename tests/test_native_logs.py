"""TensorFlow's native log noise stays out of the terminal; everything else written to stderr,
by native code or Python, still reaches it (as it comes, during training)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netdsl.keras.runtime import filtered_native_logs, quiet_native_logs

NOISE = (
    b"E0000 00:00:1796030087.771552   15728 node_def_util.cc:682] NodeDef mentions attribute "
    b"use_unbounded_threadpool which is not in the op definition\n"
)
REAL = b"W0000 something the user should see\n"


@pytest.mark.parametrize(
    "context", [filtered_native_logs, quiet_native_logs], ids=["filtered", "quiet"]
)
def test_noise_is_dropped_and_the_rest_passes(
    context,
    capfd: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NETDSL_TF_LOGS", raising=False)
    with context():
        os.write(2, NOISE)
        os.write(2, REAL)
        print("a Python warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert "use_unbounded_threadpool" not in err
    assert "something the user should see" in err and "a Python warning" in err


@pytest.mark.parametrize(
    "context", [filtered_native_logs, quiet_native_logs], ids=["filtered", "quiet"]
)
def test_verbose_shows_everything(
    context,
    capfd: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NETDSL_TF_LOGS", "1")
    with context():
        os.write(2, NOISE)
    assert "use_unbounded_threadpool" in capfd.readouterr().err


def test_stderr_is_restored_after_an_error(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NETDSL_TF_LOGS", raising=False)
    with pytest.raises(RuntimeError), filtered_native_logs():
        raise RuntimeError("boom")
    os.write(2, NOISE)  # outside the context: not filtered any more
    assert "use_unbounded_threadpool" in capfd.readouterr().err


@pytest.mark.slow
def test_a_seeded_run_prints_no_native_noise(tmp_path: Path) -> None:
    """A seed turns on TensorFlow's deterministic ops, whose first pass over the data used to log
    an `E0000 ... use_unbounded_threadpool` line at every run (found training examples/cnn_fast.net)."""
    program = tmp_path / "seeded.net"
    program.write_text(
        "dataset: synthetic(train_size=64, test_size=16)\ninput: 12x12x1\nepochs: 1\n"
        "seed: 1\nconv2d 4 3 relu -> flatten -> dropout 0.3 -> dense 10 softmax\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NETDSL_TF_LOGS"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "run",
            str(program),
            "--out",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "use_unbounded_threadpool" not in done.stderr and "E0000" not in done.stderr, done.stderr
    assert "test accuracy" in done.stdout
