"""The data fuzz harness (bench/fuzz_data.py), a small always-on slice: the cheap attacks of the
seed corpus and a few dozen generated hostile files through check, the NumPy loader, the line
scan, the image header gate and predict's reader, with nothing but ``NetdslError`` escaping.

The full run and its figures are in BENCHMARKS.md; this keeps the harness working and catches a
regression on a fixed seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import fuzz_data

CHEAP = (
    "png-2^30-header",
    "png-truncated",
    "png-empty",
    "gif-65535",
    "bmp-huge",
    "npz-object",
    "npz-corrupt-deflate",
    "npz-unknown-compression",
    "npz-0d",
    "npz-string-labels",
    "npz-declares-1e9",
    "npy-declares-1e9",
    "csv-long-cell",
    "csv-sparse-2G",
    "csv-arabic-digit",
    "csv-underscore",
    "csv-cr-only",
    "fifo",
)


def test_generation_is_deterministic(tmp_path: Path) -> None:
    def files(where: Path) -> list[bytes]:
        where.mkdir()
        return [p.read_bytes() for _, p in fuzz_data.generate(30, 7, where, seeds=())]

    first = files(tmp_path / "a")
    assert first == files(tmp_path / "b") and len(first) == 30


def test_a_slice_lets_nothing_but_netdsl_errors_escape() -> None:
    stats = fuzz_data.run(60, seed=3, timeout=10, seeds=CHEAP)
    assert stats.files == 60 and stats.calls > 60
    assert stats.escapes == [] and stats.hangs == []
    assert stats.refused > 0 and stats.accepted > 0
    assert stats.worst_peak["peak_bytes"] < 64 << 20


def test_the_report_has_every_figure(tmp_path: Path) -> None:
    stats = fuzz_data.run(25, seed=1, timeout=10, seeds=("npz-0d", "csv-cr-only"))
    args = fuzz_data.argparse.Namespace(files=25, seed=1, timeout=10.0, how=None)
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# benchmarks\n")
    fuzz_data.write_report(out, fuzz_data.report(stats, args))
    fuzz_data.write_report(out, fuzz_data.report(stats, args))  # replaces its own section
    text = out.read_text()
    assert text.count(fuzz_data.MARK_START) == 1 and text.startswith("# benchmarks")
    assert (
        "| escapes (not a `NetdslError`; goal 0) | 0 |" in text
        and "largest peak / honest size" in text
    )
