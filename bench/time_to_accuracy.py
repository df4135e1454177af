"""Fastest time to accuracy, side by side in one command: a netdsl recipe against its baseline.

    python bench/time_to_accuracy.py --data /path/to/mnist [--seeds 1,2,3] [--only cnn,mlp]

Two comparisons, each alternating its two sides seed by seed (A B, then B A, ...) so that load
from other work on the machine falls on both:

- **cnn**: Keras's "Simple MNIST convnet" as published (bench/baseline_keras_convnet.py, its 15
  epochs) against ``netdsl run examples/cnn_fast.net --seed S``. Both are whole processes timed
  from spawn to exit (imports, data, training, evaluation; netdsl also writes its run folder);
  the figure is the median wall time of each, the median of the per-seed ratios, and the test
  accuracy at the end of each run, per seed. Goal: cnn_fast ≥ 99.2% in ≤ 0.5× the recipe's time.
- **mlp**: time to 98% test accuracy (bench/train_probe.py: test accuracy probed after every
  epoch, the probe's own time taken out; the run stops at the target) for the seed recipe
  (examples/mnist.net, 10 epochs; it tops out near 95.6%, so it reports its best) and
  bench/recipes/mlp98.net.

Writes its rows into BENCHMARKS.md between the markers ``BEGIN`` and ``END`` below (``--output``
to write elsewhere) and every sample as JSON into bench/results/. ``--epochs N`` shortens every
run to N epochs (a smoke test of this script on tiny data; the report says so).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, PYTHON, RESULTS, ROOT, Stats, log, machine, ratio_stats, run_proc
from run import _netdsl_run, _probe, alternate

__all__ = [
    "BEGIN",
    "CNN_RATIO_GOAL",
    "CNN_TARGET",
    "END",
    "MLP_TARGET",
    "main",
    "render",
    "splice",
    "summarise_cnn",
    "summarise_mlp",
]

BEGIN = "<!-- bench/time_to_accuracy.py: begin (generated; rerun the command, do not edit) -->"
END = "<!-- bench/time_to_accuracy.py: end -->"

CNN_TARGET = 0.992  # issue 11: ≥ 99.2% test accuracy ...
CNN_RATIO_GOAL = 0.5  # ... in at most half the Keras recipe's wall time
MLP_TARGET = 0.98
RECIPE = "bench/baseline_keras_convnet.py"
CNN_SPEC = "examples/cnn_fast.net"
SEED_SPEC = "examples/mnist.net"
MLP_SPEC = "bench/recipes/mlp98.net"
SEED_EPOCHS = 10


# --- measuring ---------------------------------------------------------------------------------


def _recipe(data: str, seed: int, epochs: int | None) -> dict[str, Any]:
    """One run of the Keras recipe, a whole process."""
    cmd = [PYTHON, str(BENCH / "baseline_keras_convnet.py"), "--data", data, "--seed", str(seed)]
    proc = run_proc([*cmd, *(["--epochs", str(epochs)] if epochs else [])], timeout=3600)
    return {"seed": seed, "wall": proc.wall, "test_accuracy": proc.json()["test_accuracy"]}


def _fast(data: str, seed: int, epochs: int | None, out: Path) -> dict[str, Any]:
    """One ``netdsl run examples/cnn_fast.net``, a whole process."""
    extra = ["--seed", str(seed), *(["--epochs", str(epochs)] if epochs else [])]
    r = _netdsl_run(CNN_SPEC, data, out, *extra)
    return {"seed": seed, "wall": r["wall"], "test_accuracy": r["test_accuracy"]}


def measure_cnn(
    data: str, seeds: list[int], epochs: int | None, out: Path
) -> dict[str, list[dict[str, Any]]]:
    """Recipe and cnn_fast, alternating, one pair per seed."""
    sides: list[tuple[str, Callable[[int], dict[str, Any]]]] = [
        ("recipe", lambda s: _recipe(data, s, epochs)),
        ("fast", lambda s: _fast(data, s, epochs, out)),
    ]
    runs: dict[str, list[dict[str, Any]]] = {"recipe": [], "fast": []}
    for i, seed in enumerate(seeds):
        for name, go in alternate(sides, i):
            log(f"cnn seed {seed} ({i + 1}/{len(seeds)}): {name}")
            runs[name].append(go(seed))
            log(
                f"  {runs[name][-1]['wall']:.1f} s, test accuracy {runs[name][-1]['test_accuracy']:.4f}"
            )
    return runs


def measure_mlp(data: str, seeds: list[int], epochs: int | None) -> dict[str, list[dict[str, Any]]]:
    """Seed recipe and the 98% recipe through bench/train_probe.py, alternating, one pair per seed."""
    common = ["--target", str(MLP_TARGET), "--stop-at-target"]
    sides = [
        ("seed", SEED_SPEC, ["--epochs", str(epochs or SEED_EPOCHS)]),
        ("mlp98", MLP_SPEC, ["--epochs", str(epochs)] if epochs else []),
    ]
    runs: dict[str, list[dict[str, Any]]] = {"seed": [], "mlp98": []}
    for i, seed in enumerate(seeds):
        for name, spec, args in alternate(sides, i):
            log(f"mlp seed {seed} ({i + 1}/{len(seeds)}): {name}")
            r = _probe(spec, data, [*common, *args, "--seed", str(seed)])
            runs[name].append(
                {
                    "seed": seed,
                    "time_to_target": r["time_to_target"],
                    "epochs_to_target": r["epochs_to_target"],
                    "best_accuracy": r["best_accuracy"],
                    "epochs_run": r["epochs_run"],
                    "total_s": r["total_s"],
                    "wall": r["wall"],
                }
            )
            log(f"  time to {MLP_TARGET:.0%}: {r['time_to_target']}, best {r['best_accuracy']:.4f}")
    return runs


# --- summarising (pure) ----------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, Any] | None:
    return Stats(values).to_dict() if values else None


def summarise_cnn(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians, per-seed ratios (fast ÷ recipe, pair by pair) and the goal's verdict."""
    recipe, fast = runs["recipe"], runs["fast"]
    ratio = ratio_stats([f["wall"] for f in fast], [r["wall"] for r in recipe])
    reached = sum(f["test_accuracy"] >= CNN_TARGET for f in fast)
    return {
        "recipe": {
            "wall": _stats([r["wall"] for r in recipe]),
            "test_accuracy": _stats([r["test_accuracy"] for r in recipe]),
        },
        "fast": {
            "wall": _stats([f["wall"] for f in fast]),
            "test_accuracy": _stats([f["test_accuracy"] for f in fast]),
        },
        "ratio": ratio.to_dict(),
        "reached": f"{reached}/{len(fast)}",
        "met": bool(fast) and reached == len(fast) and ratio.median <= CNN_RATIO_GOAL,
        "pairs": [
            {
                "seed": r["seed"],
                "recipe_wall": r["wall"],
                "recipe_accuracy": r["test_accuracy"],
                "fast_wall": f["wall"],
                "fast_accuracy": f["test_accuracy"],
            }
            for r, f in zip(recipe, fast)
        ],
    }


def summarise_mlp(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per side: how many seeds reached the target, time and epochs to it, best accuracy."""
    out: dict[str, Any] = {}
    for name, rs in runs.items():
        hit = [r for r in rs if r["time_to_target"] is not None]
        out[name] = {
            "reached": f"{len(hit)}/{len(rs)}",
            "time_to_target": _stats([r["time_to_target"] for r in hit]),
            "epochs_to_target": _stats([r["epochs_to_target"] for r in hit]),
            "best_accuracy": _stats([r["best_accuracy"] for r in rs]),
            "epochs_run": _stats([r["epochs_run"] for r in rs]),
            "total_s": _stats([r["total_s"] for r in rs]),
        }
    return out


# --- the report (pure) -----------------------------------------------------------------------------


def _s(d: dict[str, Any] | None, unit: str = "s", digits: int = 1, scale: float = 1.0) -> str:
    """``12.3 s (11.0–14.2)``: median, then min–max; ``—`` when there is nothing."""
    if not d:
        return "—"
    u = f" {unit}" if unit else ""
    med = f"{d['median'] * scale:.{digits}f}{u}"
    return (
        med
        if d["n"] == 1
        else f"{med} ({d['min'] * scale:.{digits}f}–{d['max'] * scale:.{digits}f})"
    )


def render(res: dict[str, Any]) -> str:
    """The markdown block for BENCHMARKS.md, markers included."""
    L = [BEGIN, ""]
    m = res["machine"]
    seeds = ", ".join(map(str, res["seeds"]))
    L.append(
        f"Generated by `{res['command']}` on {res['date']} ({res['duration_s'] / 60:.1f} min; "
        f"{m['cpu']}, {m['cores']} cores, **shared with other engineers' jobs**: load average "
        f"{m['load_at_start']} at the start, {res['load_at_end']} at the end). Seeds {seeds}; the two "
        "sides of each comparison alternate seed by seed (A B, B A, ...), so the ratios are "
        "pairs run back to back. Figures: median (min–max) over the seeds."
    )
    if res.get("epochs"):
        L += [
            "",
            f"**Smoke run: every side shortened to {res['epochs']} epoch(s); these are not the "
            "recipes' figures.**",
        ]
    cnn = res.get("cnn")
    if cnn:
        verdict = "**met**" if cnn["met"] else "**not met**"
        L += [
            "",
            f'**`netdsl run {CNN_SPEC}` vs Keras\'s "Simple MNIST convnet"** ({RECIPE}, as published: '
            "15 epochs, batch 128, adam, `validation_split=0.1`). Whole processes, spawn to exit. "
            f"Goal: ≥ {CNN_TARGET:.1%} test accuracy in ≤ {CNN_RATIO_GOAL:g}× the recipe's wall time: "
            f"{verdict} (cnn_fast ≥ {CNN_TARGET:.1%} in {cnn['reached']} seeds; wall-time ratio "
            f"{cnn['ratio']['median']:.2f}×).",
            "",
            "| run | wall | ratio to the recipe | test accuracy |",
            "|---|---|---|---|",
            f"| Keras recipe, {res.get('epochs') or 15} epochs | {_s(cnn['recipe']['wall'])} | 1 (reference) | "
            f"{_s(cnn['recipe']['test_accuracy'], '%', 2, 100)} |",
            f"| netdsl cnn_fast | {_s(cnn['fast']['wall'])} | {_s(cnn['ratio'], '×', 3)} | "
            f"{_s(cnn['fast']['test_accuracy'], '%', 2, 100)} |",
            "",
            "| seed | recipe wall | recipe test accuracy | cnn_fast wall | cnn_fast test accuracy | ratio |",
            "|---|---|---|---|---|---|",
        ]
        for p in cnn["pairs"]:
            L.append(
                f"| {p['seed']} | {p['recipe_wall']:.1f} s | {100 * p['recipe_accuracy']:.2f}% | "
                f"{p['fast_wall']:.1f} s | {100 * p['fast_accuracy']:.2f}% | "
                f"{p['fast_wall'] / p['recipe_wall']:.3f}× |"
            )
    mlp = res.get("mlp")
    if mlp:
        L += [
            "",
            f"**Time to {MLP_TARGET:.0%} test accuracy, MLP** (bench/train_probe.py: netdsl's training "
            "path, test accuracy probed after each epoch with the probe's time taken out; seconds from "
            "process start, imports and data loading included; the run stops at the target). Seed "
            f"recipe: {SEED_SPEC} for {res.get('epochs') or SEED_EPOCHS} epochs; fast recipe: {MLP_SPEC}.",
            "",
            "| recipe | reached | time to target | epochs to target | best test accuracy | epochs run | run time |",
            "|---|---|---|---|---|---|---|",
        ]
        names = {"seed": f"seed recipe ({SEED_SPEC})", "mlp98": MLP_SPEC}
        for key, row in mlp.items():
            L.append(
                f"| {names.get(key, key)} | {row['reached']} | {_s(row['time_to_target'])} | "
                f"{_s(row['epochs_to_target'], '', 0)} | {_s(row['best_accuracy'], '%', 2, 100)} | "
                f"{_s(row['epochs_run'], '', 0)} | {_s(row['total_s'])} |"
            )
    L += ["", f"Every sample: `{res['raw']}` (not committed).", "", END]
    return "\n".join(L)


def splice(text: str, block: str) -> str:
    """``text`` with the part between the markers replaced by ``block``; the markers must be there."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(
            f"the report file has no '{BEGIN}' ... '{END}' block to replace; add the two "
            "markers where the figures belong"
        )
    return text[:start] + block + text[end + len(END) :]


# --- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Measure, then write the block into the report and the samples into bench/results/."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with the four MNIST IDX .gz files")
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated seeds, one pair of runs each")
    ap.add_argument("--only", default="cnn,mlp", help="comma-separated: cnn, mlp")
    ap.add_argument(
        "--epochs", type=int, help="shorten every run to N epochs (smoke test of this script)"
    )
    ap.add_argument(
        "--output",
        type=Path,
        default=ROOT / "BENCHMARKS.md",
        help="the file whose marked block is rewritten (default BENCHMARKS.md)",
    )
    ap.add_argument("--results", type=Path, default=RESULTS, help="where the samples' JSON goes")
    a = ap.parse_args(argv)
    data = str(Path(a.data).resolve())
    if not (Path(data) / "train-images-idx3-ubyte.gz").exists():
        ap.error(f"{data} does not hold the MNIST IDX .gz files")
    seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    only = {s.strip() for s in a.only.split(",")}
    if not seeds or not only <= {"cnn", "mlp"}:
        ap.error("--seeds needs at least one seed and --only takes cnn and/or mlp")
    splice(a.output.read_text(), "")  # fail before an hour of measuring, not after

    started = time.perf_counter()
    res: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/time_to_accuracy.py --data $D"
        + ("" if a.seeds == "1,2,3" else f" --seeds {a.seeds}")
        + ("" if a.only == "cnn,mlp" else f" --only {a.only}")
        + (f" --epochs {a.epochs}" if a.epochs else ""),
        "machine": machine(),
        "seeds": seeds,
        "epochs": a.epochs,
        "samples": {},
    }
    a.results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="netdsl-tta-") as tmp:
        if "cnn" in only:
            res["samples"]["cnn"] = measure_cnn(data, seeds, a.epochs, Path(tmp))
            res["cnn"] = summarise_cnn(res["samples"]["cnn"])
        if "mlp" in only:
            res["samples"]["mlp"] = measure_mlp(data, seeds, a.epochs)
            res["mlp"] = summarise_mlp(res["samples"]["mlp"])
    res["duration_s"] = time.perf_counter() - started
    res["load_at_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    raw = a.results.resolve() / f"tta-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    res["raw"] = str(raw.relative_to(ROOT)) if raw.is_relative_to(ROOT) else str(raw)
    raw.write_text(json.dumps(res, indent=1) + "\n")  # first, so a report bug loses no measurement
    a.output.write_text(splice(a.output.read_text(), render(res)))
    log(f"wrote {a.output} and {raw} in {res['duration_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
