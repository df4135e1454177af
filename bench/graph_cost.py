"""Cost of parse + check of graph programs (issue 22): a 10,000-node graph with skip
connections (goal: ≤ 1 s), and 1 KB graphs that would expand to millions of nodes (refused,
bounded).

    python bench/graph_cost.py [--nodes 10000] [--repeat 3]

Each figure is the best of ``--repeat`` runs in this process after one warm-up:
``time.process_time`` (CPU, the fair figure on a shared machine) and wall time, and the
``tracemalloc`` peak of one more run.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

__all__ = ["PROGRAMS", "main", "skip_graph"]

HEAD = "dataset: synthetic(train_size=64, test_size=16)\ninput: 16\n"


def skip_graph(nodes: int) -> str:
    """``t1 = dense``, then ``tI = [tI-1 -> dense 16 relu | tI-2] add``: two nodes a line,
    each merge reading the line before and the one before that (a skip connection)."""
    lines = [HEAD, "t0 = dense 16 relu\n", "t1 = t0 -> dense 16 relu\n"]
    for i in range(2, nodes // 2):
        lines.append(f"t{i} = [t{i - 1} -> dense 16 relu | t{i - 2}] add\n")
    last = nodes // 2 - 1
    lines.append(f"[t{last} | t{last - 1}] add -> dense 10 softmax\n")
    return "".join(lines)


def _shared_bomb() -> str:
    uses = "".join(f"u{i} = u{i - 1} -> s\n" for i in range(1, 40))
    return HEAD + "shared s = (dense 16) * 90000\nu0 = dense 16\n" + uses + "u39 -> dense 10\n"


def _repeat_bomb() -> str:
    return HEAD + "t = (dense 16) * 1000000000\nu = t -> (dense 16) * 1000000000\nu -> dense 10\n"


def flat_chain(nodes: int) -> str:
    """The chain program of as many layers: the same machine's yardstick for the graph."""
    return HEAD + " -> ".join(["dense 16 relu"] * (nodes - 1)) + " -> dense 10 softmax\n"


PROGRAMS = {
    "skip graph": None,  # sized by --nodes
    "flat chain": None,  # the same number of layers, for comparison
    "1 KB: a shared chain of 90,000 layers used 40 times": _shared_bomb(),
    "1 KB: two tensors of 10^9 repeated layers": _repeat_bomb(),
}


def _once(text: str) -> tuple[float, float, str]:
    import netdsl
    from netdsl.errors import NetdslError

    cpu, wall = time.process_time(), time.perf_counter()
    try:
        model = netdsl.check(text, filename="bench.net")
        outcome = f"ok: {len(model.nodes):,} nodes, {model.total_params:,} parameters"
    except NetdslError as e:
        outcome = f"refused: {e.errors[0].code} {e.errors[0].message[:60]}"
    return time.process_time() - cpu, time.perf_counter() - wall, outcome


def measure(text: str, repeat: int) -> dict[str, object]:
    _once(HEAD + "dense 10 softmax\n")  # warm-up: imports, plugins, the grammar's tables
    runs = [_once(text) for _ in range(repeat)]
    tracemalloc.start()
    _once(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    best = min(runs)
    return {
        "bytes": len(text.encode()),
        "cpu_s": best[0],
        "wall_s": min(r[1] for r in runs),
        "peak_mb": peak / 2**20,
        "outcome": best[2],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print("| program | size | parse + check (CPU) | wall | peak memory | outcome |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, text in PROGRAMS.items():
        if text is None:
            text = (skip_graph if name == "skip graph" else flat_chain)(args.nodes)
            name = f"{name} of {args.nodes:,} nodes"
        r = measure(text, args.repeat)
        print(
            f"| {name} | {r['bytes']:,} B | {r['cpu_s']:.3f} s | {r['wall_s']:.3f} s "
            f"| {r['peak_mb']:.1f} MB | {r['outcome']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
