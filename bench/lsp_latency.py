"""Re-check latency in the language server: how long a keystroke in a 200-line program takes.

Builds the real server (``netdsl.tools.lsp.create_server``), initializes it and opens a generated
200-line program, then replays keystrokes as JSON-RPC ``textDocument/didChange`` messages through
pygls's own dispatch (``structure_message`` + ``handle_message``): the incremental edit is
applied to the document, the handler parses and checks the whole text and publishes the
diagnostics, serialized to JSON into a byte sink. Half of the edits leave the program valid (a
changed unit count), half make it wrong (a misspelt activation), so both the clean path and the
error path are measured.

Each keystroke is measured three ways, from message in to diagnostics written: wall time
(``time.perf_counter``), the process's CPU time (``time.process_time``: on a shared machine the
fair figure, as it leaves out the time other processes held the CPU) and the wall time spent in
Python's cyclic garbage collector during it (``gc.callbacks``), with the number of full
(generation 2) collections. The load average is read before and after. ``--phases`` adds the
in-process CPU medians of ``parse`` and ``check`` of the same program.

    python bench/lsp_latency.py [--keystrokes N] [--at F] [--json] [--phases] [--tree DIR]
    python bench/lsp_latency.py --against DIR [--rounds R]   # side by side, alternating

``--tree DIR`` measures the netdsl of another checkout (e.g. ``git worktree add /tmp/base
<commit>``); ``--against DIR`` runs this tree and DIR in fresh processes, alternating, ``R``
rounds each, and prints both distributions side by side. ``--at 0.5`` edits a line in the
middle of the program instead of near its end (more of the program follows the edit).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _use_tree(root: Path) -> None:
    """Import netdsl (and the built-in plugins) from ``root``."""
    sys.path[:0] = [str(root), str(root / "plugins")]


URI = "file:///bench/model.net"


def program(lines: int = 200) -> str:
    """A realistic program of exactly ``lines`` lines: settings, commented blocks, a long network."""
    out = [
        "# generated for bench/lsp_latency.py",
        "dataset: mnist",
        "optimizer: adam(learning_rate=0.001)",
        "loss: categorical_crossentropy",
        "metrics: [accuracy]",
        "epochs: 3",
        "batch_size: 64",
        "",
        "# a convolutional block and a residual stage",
        "block conv(f) = conv2d f 3 relu same -> batchnorm -> maxpool 2",
        "block res(f) = residual(conv2d f 3 relu same -> conv2d f 3 same) -> activation relu",
        "",
        "conv(16)",
        "  -> res(16)",
        "  -> conv(32)",
        "  -> [conv2d 16 1 relu | conv2d 16 3 relu same | maxpool 3 strides=1 same] concat",
        "  -> flatten",
    ]
    i = 0
    while len(out) < lines - 1:
        if i % 5 == 0:
            out.append(f"  # dense stage {i // 5}")
        else:
            out.append(
                f"  -> dense {32 + i % 7} relu l2(0.0001)"
                if i % 3
                else f"  -> dropout 0.{i % 5 + 1}"
            )
        i += 1
    out.append("  -> dense 10 softmax")
    return "\n".join(out) + "\n"


class Sink:
    """Where the server writes: counts bytes (the JSON is really built)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    def close(self) -> None:
        pass


def _pct(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {
        "p50": round(_pct(v, 50), 2),
        "p90": round(_pct(v, 90), 2),
        "p99": round(_pct(v, 99), 2),
        "max": round(v[-1], 2),
        "mean": round(statistics.fmean(v), 2),
    }


def measure(keystrokes: int, phases: bool, at: float = 1.0) -> dict[str, Any]:
    """Replay ``keystrokes`` edits (after 20 warm-up ones) through the server; the figures."""
    import netdsl
    from netdsl.tools.lsp import create_server

    server = create_server()
    proto = server.protocol
    sink = Sink()
    proto.set_writer(sink)

    def send(message: dict[str, Any]) -> None:
        proto.handle_message(proto.structure_message({"jsonrpc": "2.0", **message}))

    send({"id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}})
    send({"method": "initialized", "params": {}})
    text = program()
    assert text.count("\n") == 200
    send(
        {
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {"uri": URI, "languageId": "netdsl", "version": 1, "text": text}
            },
        }
    )
    analysis = server.analyses[URI]
    assert analysis.model is not None, [e.message for e in analysis.errors]
    layers = len(analysis.model.nodes)

    # the edited line: the dense layer nearest to `at` (a fraction of the program; 1 = the last
    # one, near the end); toggle `relu` <-> `relux` and 33 <-> 64 units
    lines = text.split("\n")
    rows = [i for i, line in enumerate(lines) if "-> dense 3" in line and "relu" in line]
    row = min(rows, key=lambda i: (abs(i - at * len(lines)), -i))
    col_relu = lines[row].index("relu") + 4
    col_units = lines[row].index("dense ") + 6
    edits = [
        ((row, col_relu), (row, col_relu), "x"),
        ((row, col_relu), (row, col_relu + 1), ""),
        ((row, col_units), (row, col_units + 2), "64"),
        ((row, col_units), (row, col_units + 2), "33"),
    ]

    in_gc = [0.0, 0.0]  # wall seconds in collections so far, start of the current one
    full = [0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            in_gc[1] = time.perf_counter()
        else:
            in_gc[0] += time.perf_counter() - in_gc[1]
            full[0] += info["generation"] == 2

    wall: list[float] = []
    cpu: list[float] = []
    gc_ms: list[float] = []
    errors_seen = full_collections = 0
    version = 1
    load_before = os.getloadavg()
    gc.callbacks.append(on_gc)
    try:
        for k in range(keystrokes + 20):
            (l0, c0), (l1, c1), new = edits[k % len(edits)]
            version += 1
            message = {
                "method": "textDocument/didChange",
                "params": {
                    "textDocument": {"uri": URI, "version": version},
                    "contentChanges": [
                        {
                            "range": {
                                "start": {"line": l0, "character": c0},
                                "end": {"line": l1, "character": c1},
                            },
                            "text": new,
                        }
                    ],
                },
            }
            g0, f0 = in_gc[0], full[0]
            t0, c0_ = time.perf_counter(), time.process_time()
            send(message)
            t1, c1_ = time.perf_counter(), time.process_time()
            if k >= 20:  # warm-up
                wall.append((t1 - t0) * 1000)
                cpu.append((c1_ - c0_) * 1000)
                gc_ms.append((in_gc[0] - g0) * 1000)
                full_collections += full[0] - f0
                errors_seen += bool(server.analyses[URI].errors)
    finally:
        gc.callbacks.remove(on_gc)
    result: dict[str, Any] = {
        "lines": 200,
        "edited_line": row + 1,
        "layers": layers,
        "keystrokes": len(wall),
        "with_errors": errors_seen,
        "wall_ms": _summary(wall),
        "cpu_ms": _summary(cpu),
        "gc_ms": _summary(gc_ms),
        "gc_total_ms": round(sum(gc_ms), 1),
        "full_collections": full_collections,
        "load_before": round(load_before[0], 2),
        "load_after": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
        "netdsl": str(Path(netdsl.__file__).parent),
        "wall_all": [round(t, 3) for t in wall],
    }
    if phases:
        from netdsl.checking.checker import check
        from netdsl.lang.parser import parse

        def median_cpu(fn: Any, n: int = 30) -> float:
            times = []
            for _ in range(n):
                c = time.process_time()
                fn()
                times.append(time.process_time() - c)
            return round(statistics.median(times) * 1000, 2)

        prog = parse(text, "model.net")
        result["parse_cpu_ms"] = median_cpu(lambda: parse(text, "model.net"))
        result["check_cpu_ms"] = median_cpu(lambda: check(prog, server.registry))
    return result


def histogram(times: list[float]) -> list[str]:
    """Rows of a text histogram of ``times`` (milliseconds)."""
    out = []
    buckets = [1, 2, 3, 5, 8, 10, 13, 16, 20, 30, 50, 100, 1e9]
    lo = 0.0
    for hi in buckets:
        n = sum(lo <= t < hi for t in times)
        if n:
            label = f"{lo:g}-{hi:g} ms" if hi < 1e9 else f">= {lo:g} ms"
            out.append(f"  {label:>12} {n:5d} {'#' * max(1, round(60 * n / len(times)))}")
        lo = hi
    return out


def _row(name: str, s: dict[str, float]) -> str:
    return (
        f"  {name:<5} p50 {s['p50']:7.2f}  p90 {s['p90']:7.2f}  p99 {s['p99']:7.2f}  "
        f"max {s['max']:7.2f}  mean {s['mean']:7.2f}  ms"
    )


def report(r: dict[str, Any]) -> None:
    print(
        f"re-check after a keystroke on line {r['edited_line']} of a 200-line program ({r['layers']} layers), "
        f"{r['keystrokes']} keystrokes "
        f"({r['with_errors']} leaving an error), through the server's didChange handler; "
        f"load average {r['load_before']} -> {r['load_after']}:"
    )
    print(_row("wall", r["wall_ms"]))
    print(_row("cpu", r["cpu_ms"]))
    print(
        _row("gc", r["gc_ms"])
        + f"  ({r['full_collections']} full collections, {r['gc_total_ms']} ms in all)"
    )
    if "parse_cpu_ms" in r:
        print(
            f"  in-process CPU medians: parse {r['parse_cpu_ms']} ms, check {r['check_cpu_ms']} ms"
        )
    print("wall time:")
    print("\n".join(histogram(r["wall_all"])))


def against(other: Path, rounds: int, keystrokes: int, at: float) -> None:
    """This tree and ``other``, each in fresh processes, alternating: the figures side by side."""
    trees = {"this": ROOT, "other": other.resolve()}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
    for r in range(rounds):
        for name, tree in trees.items():
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--json",
                    "--phases",
                    "--tree",
                    str(tree),
                    "--keystrokes",
                    str(keystrokes),
                    "--at",
                    str(at),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[name].append(json.loads(out))
            res = runs[name][-1]
            assert Path(res["netdsl"]).parent == tree, (res["netdsl"], tree)  # the tree asked for
            print(
                f"round {r + 1} {name:<5} ({tree}): wall p50 {res['wall_ms']['p50']} p90 {res['wall_ms']['p90']} "
                f"| cpu p50 {res['cpu_ms']['p50']} p90 {res['cpu_ms']['p90']} | parse {res['parse_cpu_ms']} "
                f"check {res['check_cpu_ms']} | {res['full_collections']} full gc | load "
                f"{res['load_before']}",
                flush=True,
            )
    for name, tree in trees.items():
        wall = [t for res in runs[name] for t in res["wall_all"]]
        print(f"\n{name} ({tree}), {rounds} runs pooled, {len(wall)} keystrokes:")
        print(_row("wall", _summary(wall)))
        print(
            f"  cpu   p50 of runs: {[res['cpu_ms']['p50'] for res in runs[name]]}  "
            f"p90 of runs: {[res['cpu_ms']['p90'] for res in runs[name]]}"
        )
        print(
            f"  parse CPU medians {[res['parse_cpu_ms'] for res in runs[name]]}, "
            f"check {[res['check_cpu_ms'] for res in runs[name]]}"
        )
        print(
            f"  full collections per run {[res['full_collections'] for res in runs[name]]}, "
            f"gc ms per run {[res['gc_total_ms'] for res in runs[name]]}"
        )
        print("\n".join(histogram(wall)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keystrokes", type=int, default=600)
    ap.add_argument("--json", action="store_true", help="print one line of JSON")
    ap.add_argument("--phases", action="store_true", help="also time parse and check in-process")
    ap.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose netdsl is measured")
    ap.add_argument("--against", type=Path, help="compare with this checkout, side by side")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each tree with --against")
    ap.add_argument(
        "--at",
        type=float,
        default=1.0,
        help="where the edited line is, as a fraction of the program (default 1: near the end)",
    )
    args = ap.parse_args()
    if args.against is not None:
        against(args.against, args.rounds, args.keystrokes, args.at)
        return
    _use_tree(args.tree)
    result = measure(args.keystrokes, args.phases, args.at)
    if args.json:
        print(json.dumps(result))
        return
    report(result)


if __name__ == "__main__":
    main()
