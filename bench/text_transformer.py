"""Training overhead of the text transformer: `netdsl run examples/text/text_transformer.net` vs the
hand-written Keras example (bench/baseline_text_transformer.py), side by side.

    python bench/text_transformer.py [--data debian_text.npz] [--rounds 3] [--epochs 2]

Whole processes (imports, data loading, training, evaluation; netdsl also writes its run folder
and saves the model), interleaved A B, B A, ... so that load from other processes falls on both
sides. Without ``--data`` the npz is made by examples/text/debian_text.py into bench/results/.
Prints a Markdown table (median, min–max) and writes the raw figures to
bench/results/text_transformer.json. Goal: netdsl ≤ 1.05× the baseline's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, PYTHON, RESULTS, ROOT, Stats, log, machine, ratio_stats, run_proc

SPEC = "examples/text/text_transformer.net"
GOAL = 1.05


def cpu_of(run: Any) -> Any:
    """Run ``run()`` (one child process) and the CPU seconds (user + system) its children used:
    on a machine shared with other work, CPU time moves less than wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


def netdsl_run(data: str, out: Path, epochs: int, *extra: str) -> dict[str, Any]:
    """One `netdsl run` process: its wall time, peak memory and test accuracy."""
    before = set(out.iterdir()) if out.exists() else set()
    proc = run_proc(
        [
            PYTHON,
            "-m",
            "netdsl",
            "run",
            SPEC,
            "--data",
            data,
            "--out",
            str(out),
            "-q",
            "--epochs",
            str(epochs),
            *extra,
        ],
        timeout=3600,
    )
    (folder,) = set(out.iterdir()) - before
    metrics = json.loads((folder / "metrics.json").read_text())
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "wall": proc.wall,
        "peak_mb": proc.peak_mb,
        "test_accuracy": metrics["test"]["accuracy"],
    }


def baseline_run(data: str, epochs: int) -> dict[str, Any]:
    """One process of the hand-written Keras example."""
    proc = run_proc(
        [
            PYTHON,
            str(BENCH / "baseline_text_transformer.py"),
            "--data",
            data,
            "--epochs",
            str(epochs),
        ],
        timeout=3600,
    )
    out = proc.json()
    return {"wall": proc.wall, "peak_mb": proc.peak_mb, "test_accuracy": out["test_accuracy"]}


def make_data() -> str:
    path = RESULTS / "debian_text.npz"
    if not path.exists():
        RESULTS.mkdir(parents=True, exist_ok=True)
        run_proc([PYTHON, str(ROOT / "examples" / "text" / "debian_text.py"), str(path)])
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="the npz of examples/text/debian_text.py (made if left out)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    data = args.data or make_data()
    out = RESULTS / "runs" / "text_transformer"
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "netdsl": []}
    for r in range(args.rounds):
        order = ["baseline", "netdsl"] if r % 2 == 0 else ["netdsl", "baseline"]
        for name in order:
            log(f"round {r + 1}/{args.rounds}: {name} ({args.epochs} epochs)")
            if name == "baseline":
                run = cpu_of(lambda: baseline_run(data, args.epochs))
            else:
                run = cpu_of(lambda: netdsl_run(data, out, args.epochs))
            log(f"  {json.dumps(run)}")
            runs[name].append(run)
    walls = {k: [x["wall"] for x in v] for k, v in runs.items()}
    cpus = {k: [x["cpu"] for x in v] for k, v in runs.items()}
    ratio = ratio_stats(walls["netdsl"], walls["baseline"])
    cpu_ratio = ratio_stats(cpus["netdsl"], cpus["baseline"])
    result = {
        "epochs": args.epochs,
        "rounds": args.rounds,
        "machine": machine(),
        "runs": runs,
        "ratio": ratio.to_dict(),
        "cpu_ratio": cpu_ratio.to_dict(),
        "load": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "text_transformer.json").write_text(json.dumps(result, indent=2))
    print("| run | wall | wall ratio | CPU (user + system) | CPU ratio | test accuracy |")
    print("|---|---|---|---|---|---|")
    for name, rs in runs.items():
        acc = Stats([100 * x["test_accuracy"] for x in rs])
        base = name == "baseline"
        wall_r = "1 (reference)" if base else ratio.fmt("×")
        cpu_r = "1 (reference)" if base else cpu_ratio.fmt("×")
        print(
            f"| {name} | {Stats(walls[name]).fmt()} | {wall_r} | {Stats(cpus[name]).fmt()} | "
            f"{cpu_r} | {acc.fmt('%', 2)} |"
        )
    verdict = "meets" if ratio.median <= GOAL else "misses"
    print(f"\nwall ratio {ratio.median:.3f}× ({verdict} the {GOAL}× goal)")


if __name__ == "__main__":
    main()
