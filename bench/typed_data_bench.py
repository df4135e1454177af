"""Typed CSV costs (issue 23): ``check`` reads a sample only; the adapt pass streams.

    python bench/typed_data_bench.py OUT_DIR [--sizes-mb 100,1000] [--pass]

Writes mixed CSVs of the given sizes (a number with missing cells, a category, a binary column,
a category of many values, a text column), then for each:

* ``check``: ``netdsl.check`` in-process, the best and median of 5 after one warm-up;
* with ``--pass``: the one pass training makes before the first epoch (every row checked,
  the training split's statistics learned: ``csv``'s ``load``), in a fresh process, its wall
  time and peak resident memory (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROGRAM = 'dataset: csv("{path}", label="y")\ndense 16 relu -> dense 2 softmax\n'
WORDS = [
    "fast",
    "small",
    "python",
    "library",
    "tool",
    "network",
    "graph",
    "server",
    "daemon",
    "file",
    "data",
    "parser",
    "driver",
    "font",
    "theme",
    "plugin",
    "module",
    "binding",
    "shared",
    "documentation",
]


def write(path: Path, megabytes: int) -> None:
    """A mixed table of about ``megabytes`` MB: a block of 10,000 random rows written again."""
    rng = random.Random(0)
    rows = []
    for i in range(10_000):
        size = "" if i % 17 == 0 else str(rng.randint(1, 5000))
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        rows.append(
            f"{size},{rng.choice(['amd64', 'all'])},"
            f"{rng.choice(['optional', 'required', 'extra'])},"
            f"team{rng.randint(0, 300)},{text},{rng.choice('ab')}\n"
        )
    block = "".join(rows).encode()
    target = megabytes << 20
    with open(path, "wb") as f:
        f.write(b"size,arch,priority,maintainer,description,y\n")
        written = 0
        while written < target:
            f.write(block)
            written += len(block)


def time_check(path: Path) -> dict[str, float]:
    import netdsl

    text = PROGRAM.format(path=path)
    netdsl.check(text)  # warm-up: imports, registry
    times = []
    for _ in range(5):
        start = time.perf_counter()
        netdsl.check(text)
        times.append(time.perf_counter() - start)
    return {
        "check_best_s": round(min(times), 4),
        "check_median_s": round(statistics.median(times), 4),
    }


def one_pass(path: str) -> None:
    """In a child: the load (the one pass), then its wall time and peak memory as JSON."""
    from netdsl.vocab.components import DataRequest
    from netdsl_builtins.tabular import CSV

    args = {p.name: p.default for p in CSV.params}
    args["label"] = "y"
    request = DataRequest("csv", args, path)
    info = CSV.describe(request)
    start = time.perf_counter()
    streams = CSV.load(request, info)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"pass_s": round(wall, 1), "peak_mb": round(peak), "train_rows": streams.train_size}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--sizes-mb", default="100,1000")
    parser.add_argument("--pass", dest="run_pass", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        one_pass(a.child)
        return
    a.out.mkdir(parents=True, exist_ok=True)
    for mb in (int(s) for s in a.sizes_mb.split(",")):
        path = a.out / f"mixed-{mb}mb.csv"
        if not path.exists():
            write(path, mb)
        row = {"file_mb": round(path.stat().st_size / 2**20), **time_check(path)}
        if a.run_pass:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            row.update(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
