"""The language server on a big document (issue 27): how long until its diagnostics come, and
how long a burst of edits takes to settle, with the server's peak memory.

    python bench/lsp_big_document.py [--tree CHECKOUT] [--edits N] [--limit SECONDS]

A real ``netdsl --no-plugins lsp`` over pipes (bench/fuzz_lsp.py's client). Three documents:
5 MB of ``dense 64 relu ->`` (320,000 steps: over the limit), 9 million line breaks, and 1 MB of
``dense 64 relu ->`` (61,680 layers: legal). For the last, ``--edits`` whole-text changes are
sent at once (a burst of keystrokes) and the time until the diagnostics of the last version
is measured. ``--tree`` measures another checkout (before/after); ``--limit`` bounds each wait.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_lsp import ROOT, Server, message

STEP = "dense 64 relu -> "
DOCUMENTS = {
    "5 MB of steps (refused)": STEP * 320_000 + "dense 10 softmax\n",
    "9 M line breaks": "\n" * 9_000_000 + "dense 10 softmax\n",
    "1 MB of steps (61,680 layers)": STEP * 61_680 + "dense 10 softmax\n",
}


def _published(server: Server, uri: str, version: int, limit: float) -> float | None:
    """Seconds until the diagnostics of ``version`` of ``uri`` come (None: not within limit)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        try:
            m = server.answers.get(timeout=0.5)
        except Exception:  # noqa: BLE001 - queue.Empty: keep waiting
            continue
        if (
            m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri
            and m["params"].get("version") == version
        ):
            return time.perf_counter() - start
    return None


def measure(tree: Path, edits: int, limit: float) -> dict[str, object]:
    out: dict[str, object] = {}
    for i, (name, text) in enumerate(DOCUMENTS.items()):
        server = Server(tree)
        server.send(message("initialize", {"processId": None, "capabilities": {}}, id=1))
        server.answered(1, 60)
        server.send(message("initialized", {}))
        uri = f"file:///big/{i}.net"
        server.send(
            message(
                "textDocument/didOpen",
                {"textDocument": {"uri": uri, "languageId": "netdsl", "version": 1, "text": text}},
            )
        )
        row: dict[str, object] = {"open_s": _published(server, uri, 1, limit)}
        if name.startswith("1 MB") and row["open_s"] is not None:
            start = time.perf_counter()
            for v in range(2, edits + 2):
                server.send(
                    message(
                        "textDocument/didChange",
                        {
                            "textDocument": {"uri": uri, "version": v},
                            "contentChanges": [
                                {
                                    "text": text.replace(
                                        "dense 10 softmax", f"dense {v} relu -> dense 10 softmax"
                                    )
                                }
                            ],
                        },
                    )
                )
            last = _published(server, uri, edits + 1, limit)
            row["burst_s"] = None if last is None else time.perf_counter() - start
        row["peak_mb"] = round(server.peak_rss_mb())
        server.proc.kill()
        server.proc.wait()
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--limit", type=float, default=300.0)
    args = parser.parse_args(argv)
    print(
        json.dumps({"tree": str(args.tree), **measure(args.tree, args.edits, args.limit)}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
