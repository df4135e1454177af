"""Re-check latency in the language server: how long a keystroke in a 200-line program takes.

Builds the real server (``netdsl.lsp.create_server``), initializes it and opens a generated
200-line program, then replays keystrokes as JSON-RPC ``textDocument/didChange`` messages through
pygls's own dispatch (``structure_message`` + ``handle_message``): the incremental edit is
applied to the document, the handler parses and checks the whole text and publishes the
diagnostics, serialized to JSON into a byte sink. Each keystroke is timed with
``time.perf_counter`` from message in to diagnostics written. Half of the edits leave the
program valid (a changed unit count), half make it wrong (a misspelt activation), so both the
clean path and the error path are measured.

    python bench/lsp_latency.py [--keystrokes N] [--json]

Prints the distribution (p50, p90, p99, max, mean) in milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

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
            out.append(f"  -> dense {32 + i % 7} relu l2(0.0001)" if i % 3 else f"  -> dropout 0.{i % 5 + 1}")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keystrokes", type=int, default=600)
    ap.add_argument("--json", action="store_true", help="print one line of JSON")
    args = ap.parse_args()

    from netdsl.lsp import create_server

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
    send({"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": URI, "languageId": "netdsl", "version": 1, "text": text}}})
    analysis = server.analyses[URI]
    assert analysis.model is not None, [e.message for e in analysis.errors]
    layers = len(analysis.model.nodes)

    # the edited line: a dense layer near the end; toggle `relu` <-> `relux` and 33 <-> 34 units
    lines = text.split("\n")
    row = max(i for i, line in enumerate(lines) if "-> dense 3" in line and "relu" in line)
    col_relu = lines[row].index("relu") + 4
    col_units = lines[row].index("dense ") + 6
    edits = [((row, col_relu), (row, col_relu), "x"), ((row, col_relu), (row, col_relu + 1), ""),
             ((row, col_units), (row, col_units + 2), "64"), ((row, col_units), (row, col_units + 2), "33")]
    times: list[float] = []
    errors_seen = 0
    version = 1
    for k in range(args.keystrokes + 20):
        (l0, c0), (l1, c1), new = edits[k % len(edits)]
        version += 1
        message = {"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [{"range": {"start": {"line": l0, "character": c0},
                                          "end": {"line": l1, "character": c1}}, "text": new}]}}
        t0 = time.perf_counter()
        send(message)
        dt = time.perf_counter() - t0
        if k >= 20:  # warm-up
            times.append(dt * 1000)
            errors_seen += bool(server.analyses[URI].errors)
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]

    result = {
        "lines": 200, "layers": layers, "keystrokes": len(times), "with_errors": errors_seen,
        "p50_ms": round(pct(50), 2), "p90_ms": round(pct(90), 2), "p99_ms": round(pct(99), 2),
        "max_ms": round(times[-1], 2), "mean_ms": round(statistics.fmean(times), 2),
        "gc_enabled": gc.isenabled(), "python": sys.version.split()[0],
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"re-check after a keystroke, 200-line program ({layers} layers), {len(times)} keystrokes "
          f"({errors_seen} leaving an error), through the server's didChange handler:")
    print(f"  p50 {result['p50_ms']:.2f} ms   p90 {result['p90_ms']:.2f} ms   p99 {result['p99_ms']:.2f} ms   "
          f"max {result['max_ms']:.2f} ms   mean {result['mean_ms']:.2f} ms")
    buckets = [1, 2, 3, 5, 8, 13, 20, 50, 1e9]
    lo = 0.0
    for hi in buckets:
        n = sum(lo <= t < hi for t in times)
        if n:
            label = f"{lo:g}-{hi:g} ms" if hi < 1e9 else f">= {lo:g} ms"
            print(f"  {label:>12} {n:5d} {'#' * max(1, round(60 * n / len(times)))}")
        lo = hi


if __name__ == "__main__":
    main()
