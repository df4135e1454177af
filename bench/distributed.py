"""Throughput of one model on the TensorFlow and JAX backends, and in 1 vs N JAX processes,
side by side in one command.

    python bench/distributed.py [--models mlp,cnn] [--size 4096] [--processes 2]
        [--epochs 2] [--rounds 1] [--distribute] [--write BENCHMARKS.md]

Every configuration is a real ``netdsl run`` (or ``netdsl launch -n N``) on synthetic
MNIST-shaped data, timed with 1 and with ``--epochs`` epochs; the difference is that many
steady epochs less one (start-up, data loading and compiling cancel out), so examples/s =
size * (epochs - 1) / (tN - t1). Configurations run interleaved (tf, jax, jax xN, tf, ...) so a
busy machine slows them alike; with ``--rounds R`` each time is the median of R such rounds.
``--distribute`` adds ``--distribute`` to every run (every local device; for bench/gpu.sh).
``--write`` replaces the block between the markers ``<!-- bench/distributed.py:LABEL -->`` and
``<!-- /bench/distributed.py:LABEL -->`` in that file (appending it when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: model name -> network (28x28 inputs, 10 classes)
MODELS = {
    "mlp": "dense 64 relu l2 -> dense 10 softmax",
    "cnn": "conv2d 32 3 relu -> maxpool 2 -> conv2d 64 3 relu -> maxpool 2 -> flatten -> dense 10 softmax",
}


def program(model: str, size: int, epochs: int, batch: int) -> str:
    """The benchmark program: synthetic MNIST-shaped data of ``size`` examples."""
    shape = "28x28x1" if model == "cnn" else "784"
    return (
        f"dataset: synthetic(train_size={size}, test_size=256)\ninput: {shape}\n"
        f"epochs: {epochs}\nbatch_size: {batch}\nseed: 1\n{MODELS[model]}\n"
    )


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of a whole process; a failure stops the benchmark with its output."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--size", type=int, default=4096, help="training examples (one epoch)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="the longer run's epochs (>= 2)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="interleaved rounds; medians reported"
    )
    parser.add_argument("--distribute", action="store_true")
    parser.add_argument("--label", default="cpu")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
        ),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    env.pop("KERAS_BACKEND", None)
    extra = ["--distribute"] if args.distribute else []
    configs = {
        "tensorflow, 1 process": lambda f, out: [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "run",
            f,
            "-q",
            "--out",
            out,
            "--backend",
            "tensorflow",
            *extra,
        ],
        "jax, 1 process": lambda f, out: [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "run",
            f,
            "-q",
            "--out",
            out,
            "--backend",
            "jax",
            *extra,
        ],
    }
    if args.processes > 1:
        configs[f"jax, {args.processes} processes"] = lambda f, out: [
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            "launch",
            "-n",
            str(args.processes),
            f,
            "-q",
            "--out",
            out,
            "--backend",
            "jax",
            *extra,
        ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            samples: dict[str, dict[int, list[float]]] = {
                name: {1: [], args.epochs: []} for name in configs
            }
            for _ in range(args.rounds):
                for epochs in (1, args.epochs):
                    spec = Path(tmp) / f"{model}{epochs}.net"
                    spec.write_text(program(model, args.size, epochs, args.batch))
                    for name, make in configs.items():  # interleaved, side by side
                        wall = timed(make(str(spec), str(Path(tmp) / "runs")), env)
                        samples[name][epochs].append(wall)
                        print(f"{model} {name} {epochs} epoch(s): {wall:.1f} s", file=sys.stderr)
            times = {
                name: {e: statistics.median(v) for e, v in by.items()}
                for name, by in samples.items()
            }
            base = None
            for name in configs:
                epoch = (times[name][args.epochs] - times[name][1]) / (args.epochs - 1)
                rate = args.size / epoch if epoch > 0 else float("nan")
                base = base if base is not None else rate
                rows.append((model, name, times[name][1], epoch, rate, rate / base))
    lines = [
        "| model | configuration | 1-epoch run, s | steady epoch, s | examples/s | vs first row |",
        "|---|---|---|---|---|---|",
    ]
    for m, n, t1, e, r, x in rows:  # a non-positive epoch: the machine's noise exceeded one epoch
        rate, vs = (f"{r:,.0f}", f"{x:.2f}×") if r == r and e > 0 else ("— (noise)", "—")
        lines.append(f"| {m} | {n} | {t1:.1f} | {e:.1f} | {rate} | {vs} |")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    note = (
        f"Measured by `python bench/distributed.py --size {args.size} --batch {args.batch}"
        f" --epochs {args.epochs} --rounds {args.rounds}{' --distribute' if args.distribute else ''}` on {machine}"
        f" ({time.strftime('%Y-%m-%d')}); synthetic MNIST-shaped data, batch {args.batch} (global)."
    )
    block = "\n".join([note, "", *lines])
    print(block)
    print(json.dumps({"rows": rows}), file=sys.stderr)
    if args.write:
        start, end = (
            f"<!-- bench/distributed.py:{args.label} -->",
            f"<!-- /bench/distributed.py:{args.label} -->",
        )
        text = args.write.read_text(encoding="utf-8") if args.write.exists() else ""
        new = f"{start}\n{block}\n{end}"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        text = (
            pattern.sub(lambda _: new, text)
            if pattern.search(text)
            else text.rstrip("\n") + "\n\n" + new + "\n"
        )
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
