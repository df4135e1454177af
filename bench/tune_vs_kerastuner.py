"""netdsl tune against KerasTuner, side by side: the same spaces, data, budget and sampler.

    python bench/tune_vs_kerastuner.py [--trials 8] [--memory-trials 30] [--out FILE]

Needs `pip install -e '.[tune,bench,cpu]'` and real MNIST ($NETDSL_MNIST, the four IDX files).
A small subset (4,000 training and 2,000 test images) is written as an ``mnist.npz`` that both
sides read; each trial trains 2 epochs with 20% held out. Two spaces, each with invalid points
that only show when the model is built:

* MLP: ``reshape choice(4x8, 8x4, 16x4)`` after ``dense 32``: 16x4 never fits (1 point in 3);
* CNN: ``conv2d 16 choice(3, 7)`` after ``maxpool choice(2, 4)``: 7 after 4 leaves nothing
  (1 point in 4).

Both sample at random (netdsl: ``tune_sampler: random``; KerasTuner: ``RandomSearch``) with the
same trial budget. Measured per side: trials spent on invalid points, wall time, the best
validation accuracy's test accuracy over all trials and over the trials both finished within
the shorter side's wall time, the tuner process's resident memory after its first and last of
``--memory-trials`` tiny trials, and what a ``kill -9`` mid-search followed by the same command
leaves. Each side runs in its own child process (KerasTuner's needs TensorFlow in the tuner's
process; netdsl's never imports it there).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REUSE = False
TRAIN, TEST, EPOCHS, BATCH = 4000, 2000, 2, 64

MLP = """dense choice(64, 128, 256) relu -> dropout choice(0.0, 0.2) -> dense 32 relu
  -> reshape choice(4x8, 8x4, 16x4) -> flatten -> dense 10 softmax
"""
CNN = """conv2d choice(8, 16) choice(3, 5) relu -> maxpool choice(2, 4)
  -> conv2d 16 choice(3, 7) relu -> maxpool 2 -> flatten -> dense 10 softmax
"""
TINY = "dense choice(4, 8, 16) relu -> dense 10 softmax\n"


def program(net: str, trials: int, epochs: int = EPOCHS) -> str:
    return (
        f"dataset: mnist\nepochs: {epochs}\nbatch_size: {BATCH}\nvalidation_split: 0.2\n"
        "optimizer: adam(learning_rate=range(1e-4, 1e-2, log=true))\n"
        f"tune_trials: {trials}\ntune_sampler: random\ntune_pruner: none\ntune_seed: 0\n\n" + net
    )


# --- data -------------------------------------------------------------------------------------


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def subset(mnist: Path, folder: Path) -> Path:
    """``mnist.npz`` with the first TRAIN training and TEST test images (Keras's layout)."""
    out = folder / "mnist.npz"
    np.savez(
        out,
        x_train=_idx(mnist / "train-images-idx3-ubyte.gz")[:TRAIN],
        y_train=_idx(mnist / "train-labels-idx1-ubyte.gz")[:TRAIN],
        x_test=_idx(mnist / "t10k-images-idx3-ubyte.gz")[:TEST],
        y_test=_idx(mnist / "t10k-labels-idx1-ubyte.gz")[:TEST],
    )
    return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- netdsl side (runs in its own process: never imports TensorFlow) ----------------------------


def netdsl_side(space: str, trials: int, data: Path, work: Path, epochs: int) -> dict[str, Any]:
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    from netdsl.lang.parser import parse
    from netdsl.lang.space import extract
    from netdsl.search.settings import read_tune_settings
    from netdsl.search.tune import TuneOptions, Tuner
    from netdsl.vocab.registry import load_registry

    net = {"mlp": MLP, "cnn": CNN, "tiny": TINY}[space]
    sp = extract(parse(program(net, trials, epochs), f"{space}.net"))
    rss: list[float] = []

    def say(line: str) -> None:
        if ": val_accuracy=" in line or "failed" in line:
            rss.append(rss_mb())

    jobs = int(os.environ.get("BENCH_JOBS", "1"))
    options = TuneOptions(work / f"netdsl-{space}", space, data=str(data), jobs=jobs)
    started = time.monotonic()
    tuner = Tuner(sp, read_tune_settings(sp.tune), options, load_registry(), say)
    study = tuner.run()
    wall = time.monotonic() - started
    rows = []
    for t in study.trials:
        if "refused" in t.user_attrs:
            continue
        folder = Path(t.user_attrs["folder"])
        run = next((p for p in folder.iterdir() if p.is_dir()), None)
        metrics = json.loads((run / "metrics.json").read_text()) if run else {}
        end = t.datetime_complete.timestamp() if t.datetime_complete else None
        rows.append(
            {
                "state": t.state.name,
                "val": t.value,
                "test": (metrics.get("test") or {}).get("accuracy"),
                "end": end,
            }
        )
    begin = min(t.datetime_start.timestamp() for t in study.trials)
    for r in rows:
        r["at"] = None if r["end"] is None else r["end"] - begin
    return {
        "wall": wall,
        "trials": rows,
        "refused": sum(1 for t in study.trials if "refused" in t.user_attrs),
        "wasted": sum(
            1
            for t in study.trials
            if t.state.name == "FAIL" and not t.user_attrs.get("interrupted")
        ),
        "interrupted": sum(1 for t in study.trials if t.user_attrs.get("interrupted")),
        "complete": sum(1 for t in study.trials if t.state.name == "COMPLETE"),
        "rss": rss,
        "tensorflow_in_tuner": "tensorflow" in sys.modules,
    }


# --- KerasTuner side ----------------------------------------------------------------------------


def kt_side(space: str, trials: int, data: Path, work: Path, epochs: int) -> dict[str, Any]:
    import keras
    import keras_tuner as kt
    from keras_tuner.src.engine import tuner as kt_tuner

    # KerasTuner imports tensorboard in every trial, to patch a TensorBoard callback; there is
    # none here and the CPU wheel has no tensorboard: the patching is skipped (same behaviour)
    kt_tuner.Tuner._configure_tensorboard_dir = lambda self, *a, **k: None
    keras.config.disable_traceback_filtering()

    arrays = np.load(data)
    x, y = arrays["x_train"][..., None] / 255.0, arrays["y_train"]
    xt, yt = arrays["x_test"][..., None] / 255.0, arrays["y_test"]
    y, yt = keras.utils.to_categorical(y, 10), keras.utils.to_categorical(yt, 10)
    rows: list[dict[str, Any]] = []
    rss: list[float] = []
    begin = time.monotonic()

    def build(hp: Any) -> Any:
        m = keras.Sequential([keras.Input((28, 28, 1))])
        if space == "cnn":
            m.add(
                keras.layers.Conv2D(
                    hp.Choice("f", [8, 16]), hp.Choice("k1", [3, 5]), activation="relu"
                )
            )
            m.add(keras.layers.MaxPooling2D(hp.Choice("p", [2, 4])))
            m.add(keras.layers.Conv2D(16, hp.Choice("k2", [3, 7]), activation="relu"))
            m.add(keras.layers.MaxPooling2D(2))
        else:
            m.add(keras.layers.Flatten())
            units = [4, 8, 16] if space == "tiny" else [64, 128, 256]
            m.add(keras.layers.Dense(hp.Choice("units", units), activation="relu"))
            if space == "mlp":
                m.add(keras.layers.Dropout(hp.Choice("dropout", [0.0, 0.2])))
                m.add(keras.layers.Dense(32, activation="relu"))
                shape = hp.Choice("shape", ["4x8", "8x4", "16x4"])
                m.add(keras.layers.Reshape(tuple(int(d) for d in shape.split("x"))))
        m.add(keras.layers.Flatten())
        m.add(keras.layers.Dense(10, activation="softmax"))
        lr = hp.Float("lr", 1e-4, 1e-2, sampling="log")
        m.compile(
            optimizer=keras.optimizers.Adam(lr),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
        return m

    class Model(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> Any:
            return build(hp)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            history = model.fit(*args, **kwargs)
            if deadline and time.monotonic() - begin > deadline:  # no trial starts after it
                tuner.oracle.max_trials = len(tuner.oracle.trials)
            test = model.evaluate(xt, yt, verbose=0)[1]
            rows.append(
                {
                    "state": "COMPLETE",
                    "val": max(history.history["val_accuracy"]),
                    "test": test,
                    "at": time.monotonic() - begin,
                }
            )
            rss.append(rss_mb())
            return history

    deadline = float(os.environ.get("BENCH_DEADLINE", "0"))
    limits = {"max_consecutive_failed_trials": 10**6} if deadline else {}
    tuner = kt.RandomSearch(
        Model(),
        objective="val_accuracy",
        max_trials=10**6 if deadline else trials,
        **limits,
        seed=0,
        directory=str(work),
        project_name=f"kt-{space}",
        overwrite=False,
    )
    error = None
    try:
        tuner.search(x, y, epochs=epochs, batch_size=BATCH, validation_split=0.2, verbose=0)
    except Exception as e:  # noqa: BLE001 - what KerasTuner does with invalid points is measured
        error = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    states = [t.status for t in tuner.oracle.trials.values()]
    return {
        "wall": time.monotonic() - begin,
        "trials": rows,
        "wasted": sum(1 for s in states if s in ("FAILED", "INVALID")),
        "states": states,
        "error": error,
        "rss": rss,
    }


# --- measurements -----------------------------------------------------------------------------


def child(
    side: str,
    space: str,
    trials: int,
    data: Path,
    work: Path,
    epochs: int = EPOCHS,
    timeout: float = 3600,
    jobs: int = 1,
    deadline: float = 0,
) -> dict[str, Any]:
    out = work / f"{side}-{space}{'-timed' if deadline else ''}.json"
    if REUSE and out.exists():  # --reuse: a side measured before, in the same work folder
        return dict(json.loads(out.read_text()))
    cmd = [
        sys.executable,
        __file__,
        "--child",
        side,
        space,
        str(trials),
        str(data),
        str(work),
        str(epochs),
        str(out),
    ]
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "BENCH_JOBS": str(jobs),
        "BENCH_DEADLINE": str(deadline),
    }
    subprocess.run(cmd, check=True, timeout=timeout, env=env)
    return json.loads(out.read_text())


def best_at(rows: list[dict[str, Any]], limit: float | None) -> float | None:
    """The test accuracy of the trial with the best validation accuracy among those done by
    ``limit`` seconds."""
    done = [
        r
        for r in rows
        if r["val"] is not None and r["at"] is not None and (limit is None or r["at"] <= limit)
    ]
    return max(done, key=lambda r: r["val"])["test"] if done else None


def killed(side: str, data: Path, work: Path) -> dict[str, Any]:
    """kill -9 the tuner while its 2nd trial trains, run the same command again, count."""
    work = work / "kill"
    work.mkdir(exist_ok=True)
    out = work / f"{side}-kill.json"
    cmd = [
        sys.executable,
        __file__,
        "--child",
        side,
        "tiny",
        "4",
        str(data),
        str(work),
        "1",
        str(out),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    marker = work / ("netdsl-tiny" if side == "netdsl" else "kt-tiny")
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and _started(side, marker) < 2:
        time.sleep(0.5)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _started(side, marker)
    subprocess.run(cmd, check=False, timeout=1800, env=env)
    result = json.loads(out.read_text()) if out.exists() else {}
    return {"started_before_kill": first, "after_rerun": result}


def _started(side: str, marker: Path) -> int:
    if side == "netdsl":
        return len(list(marker.glob("trials/*/trial.net")))
    return len(list(marker.glob("trial_*")))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        side, space, trials, data, work, epochs, out = sys.argv[2:9]
        fn = netdsl_side if side == "netdsl" else kt_side
        result = fn(space, int(trials), Path(data), Path(work), int(epochs))
        Path(out).write_text(json.dumps(result, indent=1))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--memory-trials", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "tune_vs_kerastuner.json"))
    ap.add_argument("--only", choices=("spaces", "equal-time", "memory", "kill"), action="append")
    ap.add_argument(
        "--seconds",
        type=float,
        default=240,
        help="the wall time both sides get in the equal-time comparison",
    )
    ap.add_argument(
        "--reuse",
        metavar="WORK",
        help="a work folder of an earlier run: its "
        "measured sides are kept (delete a side's JSON to measure it again)",
    )
    args = ap.parse_args()
    global REUSE
    REUSE = args.reuse is not None
    mnist = Path(os.environ.get("NETDSL_MNIST", ROOT.parent / "shared" / "data" / "mnist"))
    work = Path(args.reuse or tempfile.mkdtemp(prefix="tune-bench-"))
    data = work / "mnist.npz" if args.reuse else subset(mnist, work)
    report: dict[str, Any] = {
        "train": TRAIN,
        "test": TEST,
        "epochs": EPOCHS,
        "trials": args.trials,
        "work": str(work),
    }
    only = set(args.only or ("spaces", "equal-time", "memory", "kill"))
    if "spaces" in only:
        for space in ("mlp", "cnn"):
            a = child("netdsl", space, args.trials, data, work)
            b = child("kerastuner", space, args.trials, data, work)
            both = min(a["wall"], b["wall"])
            report[space] = {
                "netdsl": {
                    **a,
                    "best_test": best_at(a["trials"], None),
                    "best_test_at_equal_time": best_at(a["trials"], both),
                },
                "kerastuner": {
                    **b,
                    "best_test": best_at(b["trials"], None),
                    "best_test_at_equal_time": best_at(b["trials"], both),
                },
                "equal_time": both,
            }
            print(
                space,
                json.dumps(
                    {
                        k: {
                            x: v[x]
                            for x in ("wall", "wasted", "best_test", "best_test_at_equal_time")
                        }
                        for k, v in report[space].items()
                        if k != "equal_time"
                    }
                ),
            )
    if "equal-time" in only:
        # KerasTuner gets --seconds of wall time (trials until then, failures not fatal);
        # netdsl's trials finished by then are read from its trial-budget run above
        report["equal_time"] = {"seconds": args.seconds}
        for space in ("mlp", "cnn"):
            a = child("netdsl", space, args.trials, data, work)
            b = child("kerastuner", space, args.trials, data, work, deadline=args.seconds)
            done = [r for r in b["trials"] if r["at"] is not None and r["at"] <= args.seconds]
            report["equal_time"][space] = {
                "netdsl": {
                    "best_test": best_at(a["trials"], args.seconds),
                    "trials": sum(
                        1 for r in a["trials"] if r["at"] is not None and r["at"] <= args.seconds
                    ),
                },
                "kerastuner": {
                    "best_test": best_at(b["trials"], args.seconds),
                    "trials": len(done),
                    "wasted": b["wasted"],
                    "wall": b["wall"],
                },
            }
        print("equal time", json.dumps(report["equal_time"]))
    if "memory" in only:
        report["memory"] = {
            side: child(side, "tiny", args.memory_trials, data, work, epochs=1, jobs=2)["rss"]
            for side in ("netdsl", "kerastuner")
        }
        print("memory", {k: (v[0], v[-1]) for k, v in report["memory"].items() if v})
    if "kill" in only:
        report["kill"] = {side: killed(side, data, work) for side in ("netdsl", "kerastuner")}
        print("kill", json.dumps(report["kill"])[:2000])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
