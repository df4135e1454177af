"""The benchmark suite's code runs: ``bench/run.py --smoke`` (tiny sizes, no training, < 30 s).

Benchmarks are not tests; this only keeps bench/ from rotting. It checks that the report is
generated with its sections and that no figure is missing, not what the figures are.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds or trains real Keras models

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / "bench" / "run.py").exists(), reason="bench/ not in this tree")
def test_bench_smoke_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    for heading in (
        "# netdsl benchmarks",
        "## Summary",
        "## 1. Feedback latency",
        "## 2. Front-end scaling",
    ):
        assert heading in text
    assert "`netdsl check examples/mnist.net`" in text
    assert "| flat | 100 |" in text
    assert not re.search(r"\bnan\b", text, re.IGNORECASE), "a figure came out as NaN"
    raw = ROOT / next(
        line.split("`")[1] for line in text.splitlines() if "bench/results/" in line and "`" in line
    )
    data = json.loads(raw.read_text())
    assert data["mode"] == "smoke"
    assert data["latency"]["rows"][0]["ratio"]["median"] > 1, (
        "netdsl check must beat importing TensorFlow"
    )
    assert data["frontend"]["families"]["flat"]["rows"][-1]["nodes"] == 100
    raw.unlink()


@pytest.mark.skipif(
    not (ROOT / "bench" / "lsp_latency.py").exists(), reason="bench/ not in this tree"
)
@pytest.mark.parametrize(
    "at", [pytest.param("1", id="near-the-end"), pytest.param("0.5", id="middle")]
)
def test_lsp_latency_runs_and_reports_every_column(at: str) -> None:
    pytest.importorskip("pygls")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "lsp_latency.py"),
            "--keystrokes",
            "8",
            "--at",
            at,
            "--json",
            "--phases",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["keystrokes"] == 8 and data["with_errors"] == 2 and data["layers"] == 161
    assert (data["edited_line"] > 150) == (at == "1")
    for column in ("wall_ms", "cpu_ms", "gc_ms"):
        assert set(data[column]) == {"p50", "p90", "p99", "max", "mean"}
    assert data["parse_cpu_ms"] > 0 and data["check_cpu_ms"] > 0
    assert Path(data["netdsl"]) == ROOT / "netdsl"


def test_data_bench_report_keeps_the_figures_of_parts_it_skipped(tmp_path: Path) -> None:
    """`bench/data_bench.py --skip check,memory` rewrites the throughput table only: the check
    and memory tables written before stay, figure for figure."""
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location("data_bench", ROOT / "bench" / "data_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(smoke=False, rows=1000, pictures=30)
    stats = {"median": 2.0, "min": 1.0, "max": 3.0, "n": 1, "values": [2.0]}
    out = tmp_path / "B.md"
    out.write_text("# before\n")
    bench.write_report(
        out,
        {
            "machine": {},
            "check": [{"what": "CSV of 9 MB", "s": stats}],
            "memory": [{"mb": 19.0, "peak_mb": 728.0, "wall_s": 5.0, "rows": 7}],
        },
        args,
    )
    first = out.read_text()
    assert "| CSV of 9 MB | 2.000 s" in first and "| 19 MB | 7 train | 728 MB |" in first
    row = {
        "what": "CSV",
        "stream": stats,
        "file": stats,
        "text": stats,
        "numpy": stats,
        "ratio": stats,
        "file_ratio": stats,
        "text_ratio": stats,
        "file_cpu": stats,
        "numpy_cpu": stats,
    }
    pictures = {
        "what": "image folder",
        "stream": stats,
        "file": stats,
        "numpy": stats,
        "ratio": stats,
        "file_ratio": stats,
    }
    bench.write_report(out, {"machine": {}, "throughput": [row, pictures]}, args)
    text = out.read_text()
    assert text.startswith("# before\n") and text.count(bench.BEGIN) == 1
    assert "| CSV of 9 MB | 2.000 s" in text and "| 19 MB | 7 train | 728 MB |" in text
    assert (
        "| CSV | 2 (1–3) | 2 (1–3) | 2 (1–3) | 2 (1–3) | 2.00 (1.00–3.00) | 2.00 (1.00–3.00) | 2.00 (1.00–3.00) |"
        in text
    )
    assert (
        "| image folder | 2 (1–3) | 2 (1–3) | — | 2 (1–3) | 2.00 (1.00–3.00) | 2.00 (1.00–3.00) | — |"
        in text
    )
    assert (
        "| CSV | — | 2.0 µs (1.0–3.0) | — | 2.0 µs (1.0–3.0) |" in text
    )  # CPU per example, where measured
