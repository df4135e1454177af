"""bench/time_to_accuracy.py: its summaries and report say what the samples say, and the script
runs end to end (on tiny data, shortened epochs) and rewrites only its own block of the report.

The figures themselves are measured by running the script on real MNIST (BENCHMARKS.md section 5);
these tests keep the code that turns samples into those rows honest.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.datafiles import write_idx_folder

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "time_to_accuracy.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="bench/ not in this tree")


@pytest.fixture(scope="module")
def tta() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_time_to_accuracy", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cnn_runs(pairs: list[tuple[float, float, float, float]]) -> dict[str, list[dict[str, Any]]]:
    """(recipe wall, recipe accuracy, fast wall, fast accuracy) per seed, as measure_cnn returns."""
    return {
        "recipe": [
            {"seed": i + 1, "wall": rw, "test_accuracy": ra}
            for i, (rw, ra, _, _) in enumerate(pairs)
        ],
        "fast": [
            {"seed": i + 1, "wall": fw, "test_accuracy": fa}
            for i, (_, _, fw, fa) in enumerate(pairs)
        ],
    }


@pytest.mark.parametrize(
    "pairs, ratio, reached, met",
    [
        pytest.param(
            [(200, 0.991, 80, 0.993), (220, 0.990, 100, 0.9925), (300, 0.992, 90, 0.994)],
            0.4,
            "3/3",
            True,
            id="fast-and-accurate",
        ),
        pytest.param(
            [(200, 0.991, 80, 0.993), (200, 0.990, 80, 0.9915), (200, 0.992, 80, 0.994)],
            0.4,
            "2/3",
            False,
            id="one-seed-below-99.2",
        ),
        pytest.param(
            [(200, 0.991, 120, 0.993), (200, 0.990, 110, 0.995), (200, 0.992, 90, 0.994)],
            0.55,
            "3/3",
            False,
            id="more-than-half-the-time",
        ),
        pytest.param(
            [(100, 0.99, 50, 0.992)], 0.5, "1/1", True, id="exactly-half-and-exactly-99.2"
        ),
    ],
)
def test_cnn_summary_pairs_ratios_and_the_goal(
    tta: ModuleType,
    pairs: list[tuple[float, float, float, float]],
    ratio: float,
    reached: str,
    met: bool,
) -> None:
    s = tta.summarise_cnn(cnn_runs(pairs))
    assert s["ratio"]["median"] == pytest.approx(ratio)
    assert s["reached"] == reached
    assert s["met"] is met
    assert s["recipe"]["wall"]["n"] == len(pairs)
    assert [p["seed"] for p in s["pairs"]] == list(range(1, len(pairs) + 1))


def test_mlp_summary_counts_seeds_that_never_reached(tta: ModuleType) -> None:
    runs = {
        "seed": [
            {
                "time_to_target": None,
                "epochs_to_target": None,
                "best_accuracy": 0.956,
                "epochs_run": 10,
                "total_s": 30.0,
            }
        ]
        * 2,
        "mlp98": [
            {
                "time_to_target": 12.0,
                "epochs_to_target": 4,
                "best_accuracy": 0.981,
                "epochs_run": 4,
                "total_s": 12.5,
            },
            {
                "time_to_target": 14.0,
                "epochs_to_target": 5,
                "best_accuracy": 0.982,
                "epochs_run": 5,
                "total_s": 14.5,
            },
        ],
    }
    s = tta.summarise_mlp(runs)
    assert s["seed"]["reached"] == "0/2" and s["seed"]["time_to_target"] is None
    assert s["seed"]["best_accuracy"]["median"] == pytest.approx(0.956)
    assert s["mlp98"]["reached"] == "2/2"
    assert s["mlp98"]["time_to_target"]["median"] == pytest.approx(13.0)


def report(tta: ModuleType, pairs: list[tuple[float, float, float, float]]) -> str:
    res = {
        "command": "python bench/time_to_accuracy.py --data $D",
        "date": "2026-11-30 08:00 UTC",
        "duration_s": 600.0,
        "seeds": [1, 2, 3][: len(pairs)],
        "epochs": None,
        "raw": "bench/results/x.json",
        "load_at_end": "3.00, 3.00, 3.00",
        "machine": {"cpu": "AMD EPYC", "cores": "2", "load_at_start": "4.00, 4.00, 4.00"},
        "cnn": tta.summarise_cnn(cnn_runs(pairs)),
    }
    return str(tta.render(res))


def test_report_shows_every_seed_the_ratio_and_the_verdict(tta: ModuleType) -> None:
    text = report(tta, [(200, 0.9914, 80, 0.9931), (220, 0.9902, 100, 0.9925)])
    assert text.startswith(tta.BEGIN) and text.endswith(tta.END)
    assert "shared with other engineers' jobs" in text
    assert "| 1 | 200.0 s | 99.14% | 80.0 s | 99.31% | 0.400× |" in text
    assert "| 2 | 220.0 s | 99.02% | 100.0 s | 99.25% | 0.455× |" in text
    assert "**met**" in text and "2/2 seeds" in text


def test_report_says_not_met(tta: ModuleType) -> None:
    assert "**not met**" in report(tta, [(200, 0.9914, 150, 0.9931)])


def test_splice_replaces_only_the_block(tta: ModuleType) -> None:
    text = f"# title\n\nbefore\n{tta.BEGIN}\nold figures\n{tta.END}\nafter\n"
    out = tta.splice(text, f"{tta.BEGIN}\nnew\n{tta.END}")
    assert out == f"# title\n\nbefore\n{tta.BEGIN}\nnew\n{tta.END}\nafter\n"


def test_splice_refuses_a_file_without_markers(tta: ModuleType) -> None:
    with pytest.raises(SystemExit, match="no .* block to replace"):
        tta.splice("# a report without the markers\n", "x")


@pytest.mark.slow
def test_script_runs_end_to_end_on_tiny_data(tmp_path: Path, tta: ModuleType) -> None:
    data = tmp_path / "mnist"
    write_idx_folder(data, n_train=64, n_test=16)
    out = tmp_path / "BENCHMARKS.md"
    out.write_text(f"# report\n\nkept above\n\n{tta.BEGIN}\nstale\n{tta.END}\n\nkept below\n")
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--data",
            str(data),
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--output",
            str(out),
            "--results",
            str(tmp_path / "results"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# report\n\nkept above\n\n") and text.endswith("\n\nkept below\n")
    assert "stale" not in text
    assert "Smoke run: every side shortened to 1 epoch(s)" in text
    assert "| Keras recipe, 1 epochs |" in text and "| netdsl cnn_fast |" in text
    assert "| bench/recipes/mlp98.net | " in text
    (raw,) = (tmp_path / "results").iterdir()
    res = json.loads(raw.read_text())
    assert len(res["samples"]["cnn"]["recipe"]) == len(res["samples"]["cnn"]["fast"]) == 1
    assert res["samples"]["mlp"]["seed"][0]["epochs_run"] == 1
    assert 0.0 <= res["cnn"]["fast"]["test_accuracy"]["median"] <= 1.0
