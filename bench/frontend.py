"""Worker: front-end scaling, measured in-process (time.perf_counter), and a profile of the slow part.

Generates programs of about 10, 100, 1,000 and 10,000 layers in several shapes (a flat chain, a
chain one step per line with comments, a repeat group, nested groups, block uses, branches,
residual wrappers, a tree of nested branches, deeply nested residuals) and times ``parse`` and
``check`` separately, several repeats each. Spans (source positions) are always computed: the
parser has no mode without them. The parser's one-time construction (the LALR tables) is timed
apart and excluded from the per-program times.

    python bench/frontend.py [--sizes 10,100,1000,10000] [--repeats N] [--profile] [--breakdown FILE]

Prints one line of JSON.
``--profile``: cProfile of parse and check of the largest flat program (GC off while profiling,
so collector pauses are not charged to whichever function happened to allocate), and the same
timings with the garbage collector off, to show its share.
``--breakdown FILE``: where a fresh ``netdsl check FILE`` process spends its time, phase by phase.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse
import cProfile
import gc
import io
import json
import math
import pstats
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEAD = "input: 784\n"  # a vector input: no implicit flatten, so the node count is exact
UNIT = ("dense 64 relu", "dropout 0.1")


def flat(n: int) -> str:
    steps = [UNIT[i % 2] for i in range(n - 1)] + ["dense 10 softmax"]
    return HEAD + " -> ".join(steps) + "\n"


def flat_multiline(n: int) -> str:
    lines = []
    for i in range(n - 1):
        if i and i % 100 == 0:
            lines.append(f"    # step {i}")
        lines.append(("    -> " if i else "") + UNIT[i % 2])
    lines.append("    -> dense 10 softmax")
    return HEAD + "\n".join(lines) + "\n"


def repeat(n: int) -> str | None:
    k = (n - 1) // 2
    return HEAD + f"(dense 64 relu -> dropout 0.1) * {k} -> dense 10 softmax\n" if k >= 1 else None


def nested_repeat(n: int) -> str | None:
    depth = int(math.log2(max((n - 1) / 2, 1)))
    if depth < 1:
        return None
    body = "(dense 64 relu -> dropout 0.1)"
    for _ in range(depth):
        body = f"({body} * 2)"
    return HEAD + body + " -> dense 10 softmax\n"


def blocks(n: int) -> str | None:
    k = (n - 1) // 2
    if k < 1:
        return None
    return (
        HEAD
        + "block unit(u) = dense u relu -> dropout 0.1\n"
        + " -> ".join(["unit(64)"] * k)
        + " -> dense 10 softmax\n"
    )


def branches(n: int) -> str | None:
    k = (n - 1) // 3
    if k < 1:
        return None
    return (
        HEAD + " -> ".join(["[dense 64 relu | dense 64 relu] add"] * k) + " -> dense 10 softmax\n"
    )


def residual(n: int) -> str | None:
    k = (n - 2) // 3
    if k < 1:
        return None
    return (
        HEAD
        + "dense 64 relu -> "
        + " -> ".join(["residual(dense 64 relu -> dropout 0.1)"] * k)
        + " -> dense 10 softmax\n"
    )


def branch_tree(n: int) -> str | None:
    depth = int(math.log2(max(n, 2))) - 1
    if depth < 1:
        return None

    def tree(d: int) -> str:
        return "dense 64 relu" if d == 0 else f"[{tree(d - 1)} | {tree(d - 1)}] add"

    return HEAD + tree(depth) + " -> dense 10 softmax\n"


def nested_residual(n: int) -> str | None:
    """Residuals inside residuals; bracket nesting is capped by the parser (MAX_DEPTH)."""
    from netdsl.lang import parser

    cap = getattr(parser, "MAX_DEPTH", 50) - 5
    depth = min((n - 2) // 2, cap)
    if depth < 1 or (n > 100 and depth == cap):
        return None  # past the cap the program would not grow with n
    body = "dense 64 relu"
    for _ in range(depth):
        body = f"residual(dense 64 relu -> {body})"
    return HEAD + "dense 64 relu -> " + body + " -> dense 10 softmax\n"


FAMILIES: dict[str, Callable[[int], str | None]] = {
    "flat": flat,
    "flat_multiline": flat_multiline,
    "repeat": repeat,
    "nested_repeat": nested_repeat,
    "blocks": blocks,
    "branches": branches,
    "residual": residual,
    "branch_tree": branch_tree,
    "nested_residual": nested_residual,
}
DESCRIPTIONS = {
    "flat": "`dense 64 relu -> dropout 0.1 -> …` on one line",
    "flat_multiline": "the same, one step a line (`-> ` leading), a comment every 100 lines",
    "repeat": "`(dense 64 relu -> dropout 0.1) * k` (tiny source, k copies checked)",
    "nested_repeat": "`((… * 2) * 2) * 2` nested groups",
    "blocks": "`block unit(u) = dense u relu -> dropout 0.1`, then `unit(64) -> unit(64) -> …`",
    "branches": "`[dense 64 relu | dense 64 relu] add -> …`",
    "residual": "`residual(dense 64 relu -> dropout 0.1) -> …`",
    "branch_tree": "a binary tree of nested `[a | b] add` branches",
    "nested_residual": "`residual(dense 64 relu -> residual(…))` nested (bracket depth is capped)",
}


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def measure(sizes: list[int], repeats: dict[int, int]) -> dict[str, Any]:
    from netdsl.checking import checker
    from netdsl.checking.checker import check
    from netdsl.lang.parser import parse
    from netdsl.vocab.registry import load_registry

    t0 = time.perf_counter()
    registry = load_registry()
    t1 = time.perf_counter()
    parse("dense 10 softmax\n")  # builds the LALR parser once
    t2 = time.perf_counter()
    cap = getattr(checker, "MAX_LAYERS", None)
    out: dict[str, Any] = {
        "registry_s": t1 - t0,
        "parser_build_s": t2 - t1,
        "max_layers": cap,
        "families": {},
    }
    for name, make in FAMILIES.items():
        fam: dict[str, Any] = {"description": DESCRIPTIONS[name], "rows": []}
        out["families"][name] = fam
        try:
            check(make(10) or make(100) or "", registry)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - a family the language does not have yet
            fam["unavailable"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
            continue
        for n in sizes:
            src = make(n)
            if src is None:
                continue
            parse_t, check_t, total_t = [], [], []
            nodes = 0
            try:
                for _ in range(repeats.get(n, 3)):
                    a = time.perf_counter()
                    program = parse(src, f"gen-{name}-{n}.net")
                    b = time.perf_counter()
                    model = check(program, registry)
                    c = time.perf_counter()
                    parse_t.append(b - a)
                    check_t.append(c - b)
                    total_t.append(c - a)
                    nodes = len(model.nodes)
                    del program, model
            except Exception as e:  # noqa: BLE001 - a failing sample is reported, not fatal
                fam["rows"].append(
                    {"size": n, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}
                )
                continue
            med = _median(total_t)
            fam["rows"].append(
                {
                    "size": n,
                    "nodes": nodes,
                    "source_chars": len(src),
                    "source_lines": src.count("\n"),
                    "parse_s": _median(parse_t),
                    "check_s": _median(check_t),
                    "total_s": med,
                    "total_min_s": min(total_t),
                    "total_max_s": max(total_t),
                    "repeats": len(total_t),
                    "us_per_layer": 1e6 * med / max(nodes, 1),
                }
            )
    return out


def profile(n: int) -> dict[str, Any]:
    """cProfile of parse and check of the flat program of ``n`` layers, and GC's share."""
    from netdsl.checking.checker import check
    from netdsl.lang.parser import parse
    from netdsl.vocab.registry import load_registry

    registry = load_registry()
    parse("dense 10 softmax\n")
    timings: dict[str, Any] = {}
    for size in sorted({max(n // 10, 10), n}):
        src = flat(size)
        for label, gc_on in (("gc_on", True), ("gc_off", False)):
            ps, cs = [], []
            for _ in range(5):
                gc.collect()
                if not gc_on:
                    gc.disable()
                try:
                    a = time.perf_counter()
                    program = parse(src)
                    b = time.perf_counter()
                    check(program, registry)
                    c = time.perf_counter()
                finally:
                    gc.enable()
                del program
                ps.append(b - a)
                cs.append(c - b)
            timings.setdefault(label, {})[str(size)] = {
                "parse_s": _median(ps),
                "check_s": _median(cs),
                "us_per_layer": 1e6 * _median([x + y for x, y in zip(ps, cs)]) / size,
            }
    src = flat(n)
    gc.collect()
    gc.disable()
    try:
        tables = {}
        prof = cProfile.Profile()
        prof.enable()
        program = parse(src)
        prof.disable()
        tables["parse"] = _top(prof, 14)
        prof = cProfile.Profile()
        prof.enable()
        check(program, registry)
        prof.disable()
        tables["check"] = _top(prof, 14)
    finally:
        gc.enable()
    return {
        "size": n,
        "timings": timings,
        "top": tables,
        "gc_stats": {"thresholds": list(gc.get_threshold())},
    }


def _top(prof: cProfile.Profile, k: int) -> dict[str, Any]:
    """The ``k`` functions with most own time, and own time summed by package."""
    st = pstats.Stats(prof, stream=io.StringIO())
    total = st.total_tt  # type: ignore[attr-defined]
    rows = []
    packages: dict[str, float] = {}
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        short = file.replace(str(ROOT) + "/", "")
        if "site-packages/" in short:
            short = short.split("site-packages/", 1)[1]
        package = short.split("/", 1)[0] if "/" in short else "builtins/other"
        packages[package] = packages.get(package, 0.0) + tt
        rows.append(
            {
                "where": f"{short}:{line}({func})",
                "calls": nc,
                "tottime": tt,
                "cumtime": ct,
                "share": tt / total if total else 0.0,
            }
        )
    rows.sort(key=lambda r: r["tottime"], reverse=True)
    return {
        "total_s": total,
        "rows": rows[:k],
        "by_package": dict(
            sorted(
                ((p, t / total if total else 0.0) for p, t in packages.items()), key=lambda x: -x[1]
            )
        ),
    }


def breakdown(file: str) -> dict[str, Any]:
    """Phases of what ``netdsl check FILE`` does, in this fresh process (call before anything else)."""
    marks = [("interpreter start to script", START)]
    t = time.perf_counter()
    import click  # noqa: F401 - imported for its cost alone

    import netdsl.tools.cli  # noqa: F401 - imported for its cost alone

    marks.append(("import click + netdsl.tools.cli", t))
    t2 = time.perf_counter()
    import numpy  # noqa: F401 - imported for its cost alone

    marks.append(("import numpy (pulled in by the mnist dataset plugin and netdsl.data)", t2))
    t3 = time.perf_counter()
    from netdsl.checking.checker import check
    from netdsl.lang.parser import _get_parser, parse

    marks.append(("import netdsl.checking.checker/parser (lark, …)", t3))
    t4 = time.perf_counter()
    from netdsl.vocab.registry import load_registry

    registry = load_registry()
    marks.append(("load_registry() (built-ins + entry points)", t4))
    t5 = time.perf_counter()
    _get_parser()
    marks.append(("build the LALR parser (lark grammar analysis)", t5))
    t6 = time.perf_counter()
    model = check(parse(Path(file).read_bytes(), file), registry)
    marks.append(("parse + check the file", t6))
    t7 = time.perf_counter()
    from netdsl.tools.summary import summary_text

    summary_text(model)
    marks.append(("summary text", t7))
    end = time.perf_counter()
    phases = []
    for i, (label, t_start) in enumerate(marks):
        if i == 0:
            continue
        t_end = marks[i + 1][1] if i + 1 < len(marks) else end
        phases.append({"phase": label, "seconds": t_end - t_start})
    return {"file": file, "phases": phases, "in_process_total_s": end - marks[1][1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument(
        "--repeats",
        default="10:30,100:15,1000:5,10000:5",
        help="size:repeats pairs (default 10:30,100:15,1000:5,10000:5)",
    )
    ap.add_argument(
        "--profile", type=int, default=0, help="profile the flat program of this many layers"
    )
    ap.add_argument("--breakdown", help="phase breakdown of `netdsl check FILE` (alone)")
    a = ap.parse_args()
    if a.breakdown:
        print(json.dumps(breakdown(a.breakdown)))
        return
    sizes = [int(s) for s in a.sizes.split(",") if s]
    repeats = {int(k): int(v) for k, v in (p.split(":") for p in a.repeats.split(",") if p)}
    result = measure(sizes, repeats)
    if a.profile:
        result["profile"] = profile(a.profile)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
