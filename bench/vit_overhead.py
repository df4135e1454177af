"""`netdsl run examples/vit.net` against its hand-written Keras twin (bench/baseline_vit.py):
whole processes side by side, interleaved (A B, B A, ...) because other work shares this
machine; prints one JSON object with each run and the median wall-time ratio (netdsl / twin).

    python bench/vit_overhead.py --data /path/to/mnist [--rounds 2] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, NETDSL, PYTHON, ROOT, Stats, log, machine, ratio_stats, run_proc


def netdsl_run(data: str, epochs: int, out: Path, extra: list[str]) -> dict[str, Any]:
    """One `netdsl run` (default options), its wall time and test accuracy."""
    cmd = [NETDSL] if NETDSL else [PYTHON, "-m", "netdsl"]
    proc = run_proc(
        [
            *cmd,
            "run",
            "examples/vit.net",
            "--data",
            data,
            "--out",
            str(out),
            "-q",
            "--epochs",
            str(epochs),
            *extra,
        ],
        timeout=7200,
    )
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    metrics = json.loads((folder / "metrics.json").read_text())
    shutil.rmtree(folder)
    return {
        "wall": proc.wall,
        "peak_mb": proc.peak_mb,
        "test_accuracy": metrics["test"]["accuracy"],
    }


def twin_run(data: str, epochs: int) -> dict[str, Any]:
    """One run of the Keras twin."""
    proc = run_proc(
        [PYTHON, str(BENCH / "baseline_vit.py"), "--data", data, "--epochs", str(epochs)],
        timeout=7200,
    )
    return {
        "wall": proc.wall,
        "peak_mb": proc.peak_mb,
        "test_accuracy": proc.json()["test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--netdsl-args",
        default="",
        help="more `netdsl run` options, e.g. '--steps-per-execution 1'",
    )
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"twin": [], "netdsl": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ["twin", "netdsl"] if r % 2 == 0 else ["netdsl", "twin"]
            for side in order:
                log(f"vit round {r + 1}/{args.rounds}: {side}")
                run = (
                    netdsl_run(args.data, args.epochs, Path(tmp), args.netdsl_args.split())
                    if side == "netdsl"
                    else twin_run(args.data, args.epochs)
                )
                runs[side].append(run)
    ratio = ratio_stats([x["wall"] for x in runs["netdsl"]], [x["wall"] for x in runs["twin"]])
    print(
        json.dumps(
            {
                "epochs": args.epochs,
                "netdsl_args": args.netdsl_args,
                "rounds": args.rounds,
                "machine": machine(),
                "runs": runs,
                "wall": {k: Stats([x["wall"] for x in v]).to_dict() for k, v in runs.items()},
                "ratio": ratio.to_dict(),
                "cwd": str(ROOT),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
