"""Cost of ``check`` bounded by the input: time and extra memory of adversarial programs.

    python bench/check_cost.py [--before TREE] [--timeout SECONDS] [--report BENCHMARKS.md]

Each program is checked in a child process of its own (so one that hangs is stopped at
``--timeout`` and counted as such): the child imports netdsl, warms up on ``dense 10 softmax``,
then times parse + check + rendering the errors with ``time.perf_counter`` (best of 3) and
measures the peak of ``tracemalloc`` over one more run (extra memory: what checking allocated).
``--before TREE`` runs the same programs against another checkout (e.g. the last commit before
these fixes, unpacked with ``git archive``) side by side in the same command. The baseline row,
``dense 10 softmax``, gives the ratio of each program to the smallest one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["PROGRAMS", "main", "measure"]


def _doubling(levels: int, last: str = "dense 4") -> str:
    lines = [f"block b{i} = b{i + 1} -> b{i + 1}" for i in range(levels)]
    return "\n".join([*lines, f"block b{levels} = {last}", "b0 -> dense 10 softmax"]) + "\n"


def _chain_100k() -> str:
    unit = "dense 16 relu -> dropout 0.1 -> "
    n = (100_000 - 40) // len(unit)
    return "input: 784\n" + unit * n + "dense 10 softmax\n"


def _errors_100k() -> str:
    unit = "dense 10 softmax nope=1 -> "
    return "input: 784\n" + unit * ((100_000 - 40) // len(unit)) + "dense 10 softmax\n"


#: (name, goal group, program) — the goal groups are the issue's: ≤ 1 KB in ≤ 50 ms and ≤ 20 MB,
#: 100 KB in ≤ 1 s, the legal maximum (100,000 layers) in ≤ 1 s
PROGRAMS: list[tuple[str, str, str]] = [
    ("baseline: `dense 10 softmax`", "≤ 1 KB", "dense 10 softmax\n"),
    ("blocks doubling, 20 levels", "≤ 1 KB", _doubling(20)),
    ("blocks doubling, 51 levels, valid", "≤ 1 KB", _doubling(51, "dense 10 relu")),
    ("`dense -> (dense 10) * 1000000000`", "≤ 1 KB", "dense -> (dense 10) * 1000000000\n"),
    (
        "`(dense 10) * 10**17` (valid layer)",
        "≤ 1 KB",
        "input: 784\n(dense 10) * 100000000000000000\n",
    ),
    ("25 nested `* 2`", "≤ 1 KB", "(" * 25 + "dense 4" + ") * 2" * 25 + "\n"),
    (
        "unused block, 2 errors",
        "≤ 1 KB",
        "block unused = no_such_layer 5 relux\ndense 10 softmax\n",
    ),
    ("60 × ` use_bias=true`", "≤ 1 KB", "dense 10 softmax" + " use_bias=true" * 60 + "\n"),
    (
        "`(dense 16 relu) * 99999` (legal maximum)",
        "100,000 layers",
        "input: 784\n(dense 16 relu) * 99999 -> dense 10 softmax\n",
    ),
    ("blocks doubling to 65,536 layers (legal)", "100,000 layers", _doubling(16, "dense 16 relu")),
    ("100 KB chain, 6,000 layers", "100 KB", _chain_100k()),
    ("100 KB, 3,700 layers each with an error", "100 KB", _errors_100k()),
    ("100 KB of ` use_bias=true`", "100 KB", "dense 10 softmax" + " use_bias=true" * 7_140 + "\n"),
    ("10,000 × `epochs: 1` (100 KB)", "100 KB", "epochs: 1\n" * 10_000 + "dense 10 softmax\n"),
    # the shipped examples: what users check every day (their datasets need no file to describe)
    *(
        (f"examples/{path.name}", "example", path.read_text("utf-8"))
        for path in sorted((ROOT / "examples").glob("*.net"))
    ),
]

CHILD = r"""
import json, sys, time, tracemalloc
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/plugins"]
import netdsl
from netdsl import render  # the public name: the same in an older tree
from netdsl.errors import NetdslError
text = sys.stdin.read()

def once():
    try:
        model = netdsl.check(text)
        return f"ok, {len(model.nodes):,} layers"
    except NetdslError as e:
        out = render(e)
        return f"{len(e.errors)} error(s), {len(out):,} characters"

# warm up on the smallest program first (imports, grammar tables)
saved, text = text, "dense 10 softmax\n"
once()
text = saved
times, cpu = [], []
for _ in range(3):
    start, c = time.perf_counter(), time.process_time()
    outcome = once()
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - c)
tracemalloc.start()
once()
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"seconds": min(times), "cpu": min(cpu), "peak_mb": peak / 2**20, "outcome": outcome}))
"""


def measure(tree: Path, text: str, timeout: float) -> dict[str, Any]:
    """One program checked in a child process of ``tree``'s netdsl."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(tree)],
            input=text,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if proc.returncode != 0:
        return {"crash": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(proc.stdout)


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "–"
    if "timeout" in r:
        return f"> {r['timeout']:g} s (stopped)"
    if "crash" in r:
        return f"crash: {r['crash']}"
    return (
        f"{r['cpu'] * 1000:,.1f} ms CPU ({r['seconds'] * 1000:,.0f} ms wall), {r['peak_mb']:.1f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", type=Path, default=None, help="another checkout to compare with"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per program, before the fixes")
    parser.add_argument("--after-timeout", type=float, default=120.0, help="per program, this tree")
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    for name, group, text in PROGRAMS:
        after = measure(ROOT, text, args.after_timeout)
        before = measure(args.before, text, args.timeout) if args.before else None
        rows.append((name, group, len(text.encode()), before, after))
        print(
            json.dumps(
                {"program": name, "bytes": len(text.encode()), "before": before, "after": after}
            ),
            flush=True,
        )
    if args.report:
        base = rows[0][4].get("cpu") or 0
        lines = [
            "<!-- cost:start -->",
            "## Reliability: cost of `check` bounded by the input (`bench/check_cost.py`)",
            "",
            f"Measured with `python bench/check_cost.py{' --before <main before issue 15>' if args.before else ''}`"
            " on the shared 2-core machine (several other engineers' jobs running; times are upper "
            "bounds). Each program in a child process: best of 3 runs of parse + check + rendering "
            "the errors (CPU time, `time.process_time`, the fair figure on a shared machine; wall time in brackets), after a warm-up; memory is the `tracemalloc` peak of one "
            f"more run; a run of the old tree past {args.timeout:g} s is stopped. Goals: ≤ 1 KB in ≤ 50 ms and ≤ 20 MB; "
            "100 KB in ≤ 1 s; the legal maximum (100,000 layers) in ≤ 1 s.",
            "",
            "| program | goal group | bytes | before | after | after ÷ baseline | outcome |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for name, group, size, before, after in rows:
            ratio = f"{after['cpu'] / base:,.0f}×" if base and "cpu" in after else "–"
            lines.append(
                f"| {name} | {group} | {size:,} | {_cell(before) if args.before else '–'} | "
                f"{_cell(after)} | {ratio} | {after.get('outcome', '')} |"
            )
        lines.append("<!-- cost:end -->")
        section = "\n".join(lines) + "\n"
        text = args.report.read_text() if args.report.exists() else ""
        if "<!-- cost:start -->" in text:
            head, rest = text.split("<!-- cost:start -->", 1)
            text = head + section.rstrip("\n") + rest.split("<!-- cost:end -->", 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + section
        args.report.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
