"""Fuzz harness for the language server: hostile protocol messages sent to a real ``netdsl lsp``
over pipes (no network), with a liveness probe after each one.

    python bench/fuzz_lsp.py [--messages N] [--seconds T] [--seed S] [--probe-timeout T]
                             [--tree CHECKOUT] [--out results.json]

One server process per session (``--per-session`` messages each, a fresh one after an escape).
Every generated message is one of these families (seeded: the same ``--seed``, the same bytes):

- **framing**: a ``Content-Length`` that lies (10**12, 10**20, 5,000 digits, zero, negative,
  not a number), a header line of up to 1 MB, headers without ``\\r``, junk between messages,
  a body that is not UTF-8 or not JSON, JSON nested 100,000 deep;
- **json-rpc**: requests without an id, notifications with one, batches, ``params`` of the wrong
  type, unknown methods, huge ids;
- **documents**: ``didOpen``/``didChange`` with generated and mutated programs (bench/fuzz.py's
  generator), incremental edits whose ranges are out of the document, huge texts (5 MB of
  steps, millions of line breaks), changes to documents never opened, ``didClose`` twice;
- **features**: completion, hover, definition, symbols, formatting and code actions at random
  positions (negative, past the end, 2**31), on open and unknown documents.

After each message a probe (a ``hover`` request with a fresh id) must be answered within
``--probe-timeout`` seconds. An *escape* is the process exiting, or a probe not answered in time
(a hang). Handled errors the server logs are counted, not escapes. The server's peak resident
memory (``VmHWM``) is read from ``/proc`` before it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "plugins")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

__all__ = ["Messages", "Results", "main", "run"]

URI = "file:///fuzz/model.net"
SEED_PROGRAM = "dense 64 relu l2 -> dense 10 softmax\n"


def frame(body: bytes, length: int | None = None) -> bytes:
    """``body`` framed as the protocol says (``length``: the length declared, if a lie)."""
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


def message(method: str, params: Any = None, id: Any = None) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    if id is not None:
        body["id"] = id
    return frame(json.dumps(body).encode())


class Messages:
    """Hostile messages by family, each a ``(family, bytes)``; every declared length below the
    server's limit is honoured in bytes sent, so one case never swallows the next."""

    def __init__(self, seed: int) -> None:
        import fuzz  # bench/fuzz.py: the program generator

        self.rng = random.Random(seed)
        self.programs = fuzz.Generator(seed)
        self.version = 1
        self.families = {
            "framing": self.framing,
            "json-rpc": self.json_rpc,
            "documents": self.documents,
            "features": self.features,
        }

    def next(self) -> tuple[str, bytes]:
        family = self.rng.choice(list(self.families))
        return family, self.families[family]()

    def program(self) -> str:
        r = self.rng.random()
        if r < 0.6:
            return self.programs.program()
        if r < 0.9:
            return self.programs.distort(self.programs.program())
        return self.programs.adversarial()

    def position(self) -> dict[str, int]:
        big = [0, 1, 3, -1, 2**31 - 1, 2**31, 10**6]
        pick = self.rng.random() < 0.3
        return {
            "line": self.rng.choice(big) if pick else self.rng.randint(0, 8),
            "character": self.rng.choice(big) if pick else self.rng.randint(0, 40),
        }

    def framing(self) -> bytes:
        body = message(
            "textDocument/hover",
            {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 1}},
            id=0,
        )
        cases = [
            lambda: b"Content-Length: 1000000000000\r\n\r\n",
            lambda: b"Content-Length: 100000000000000000000\r\n\r\n",
            lambda: b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n",
            lambda: b"Content-Length: 0\r\n\r\n",
            lambda: b"Content-Length: -5\r\n\r\n",
            lambda: b"Content-Length: ten\r\n\r\n",
            lambda: b"X-Junk: " + b"a" * self.rng.choice([100, 10_000, 1 << 20]) + b"\r\n",
            lambda: b"Content-Length: 2\n\n{}",
            lambda: (
                bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 200))) + b"\r\n"
            ),
            lambda: frame(b"\xff\xfe\x00not utf-8"),
            lambda: frame(b"{" * self.rng.randint(1, 50)),
            lambda: frame(b"[" * 100_000 + b"]" * 100_000),
            lambda: frame(b'{"jsonrpc": "2.0", "method": "x", "params": ' + b"1" * 5000 + b"}"),
            lambda: b"Content-Type: application/vscode-jsonrpc\r\n" + body,
            lambda: body[:-3] + b" " * 3,  # a body cut short, padded to its declared length
        ]
        return self.rng.choice(cases)()

    def json_rpc(self) -> bytes:
        cases = [
            lambda: message("textDocument/hover", {"textDocument": {"uri": URI}}),  # no id
            lambda: message("textDocument/didOpen", None, id=7),
            lambda: frame(json.dumps([{"jsonrpc": "2.0", "method": "initialized"}] * 3).encode()),
            lambda: message("textDocument/hover", "a string", id=self.rng.randint(1, 10**6)),
            lambda: message("no/suchMethod", {}, id=10**30),
            lambda: message("$/cancelRequest", {"id": "nope"}),
            lambda: message("textDocument/completion", {"textDocument": 5, "position": []}, id=3),
            lambda: frame(json.dumps({"jsonrpc": "1.0", "id": None, "result": 1}).encode()),
            lambda: message("workspace/didChangeConfiguration", {"settings": {"x": [None] * 1000}}),
        ]
        return self.rng.choice(cases)()

    def documents(self) -> bytes:
        self.version += 1
        uri = URI if self.rng.random() < 0.8 else f"file:///fuzz/{self.rng.randint(0, 5)}.net"
        r = self.rng.random()
        if r < 0.3:
            return message(
                "textDocument/didOpen",
                {
                    "textDocument": {
                        "uri": uri,
                        "languageId": "netdsl",
                        "version": self.version,
                        "text": self.program(),
                    }
                },
            )
        if r < 0.55:
            return message(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": self.version},
                    "contentChanges": [{"text": self.program()}],
                },
            )
        if r < 0.8:
            start, end = self.position(), self.position()
            return message(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": self.version},
                    "contentChanges": [
                        {
                            "range": {"start": start, "end": end},
                            "text": self.rng.choice(
                                ["x", "", "->", "\n", "dense 8 relu -> ", "\udcff", "(" * 60, '"']
                            ),
                        }
                    ],
                },
            )
        if r < 0.9:
            return message("textDocument/didClose", {"textDocument": {"uri": uri}})
        huge = self.rng.choice(
            [
                lambda: "dense 64 relu -> " * 320_000 + "dense 10 softmax\n",  # 5 MB, 320,000 steps
                lambda: "\n" * 3_000_000 + SEED_PROGRAM,
                lambda: "# " + "x" * 1_000_000 + "\n" + SEED_PROGRAM,
            ]
        )()
        return message(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "netdsl",
                    "version": self.version,
                    "text": huge,
                }
            },
        )

    def features(self) -> bytes:
        uri = URI if self.rng.random() < 0.85 else "file:///fuzz/never-opened.net"
        doc = {"uri": uri}
        rng = {"start": self.position(), "end": self.position()}
        method, params = self.rng.choice(
            [
                ("textDocument/completion", {"textDocument": doc, "position": self.position()}),
                ("textDocument/hover", {"textDocument": doc, "position": self.position()}),
                ("textDocument/definition", {"textDocument": doc, "position": self.position()}),
                ("textDocument/documentSymbol", {"textDocument": doc}),
                (
                    "textDocument/formatting",
                    {"textDocument": doc, "options": {"tabSize": 4, "insertSpaces": True}},
                ),
                (
                    "textDocument/codeAction",
                    {"textDocument": doc, "range": rng, "context": {"diagnostics": []}},
                ),
            ]
        )
        return message(method, params, id=self.rng.randint(1, 10**6))


@dataclass
class Results:
    """What a run found: messages tried by family, escapes (with the bytes' family and a
    prefix), handled errors the server logged, probe latency, peak memory of the servers."""

    tried: dict[str, int] = field(default_factory=dict)
    escapes: list[dict[str, Any]] = field(default_factory=list)
    logged_errors: int = 0
    sessions: int = 0
    probe_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        probes = sorted(self.probe_ms) or [0.0]
        return {
            "tried": self.tried,
            "total": sum(self.tried.values()),
            "escapes": self.escapes,
            "logged_errors": self.logged_errors,
            "sessions": self.sessions,
            "probe_ms_p50": round(probes[len(probes) // 2], 1),
            "probe_ms_max": round(probes[-1], 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "seconds": round(self.seconds, 1),
        }


class Server:
    """A ``netdsl lsp`` subprocess on pipes; responses read by a thread into a queue."""

    def __init__(self, tree: Path = ROOT) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(tree / "plugins")])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netdsl.tools.cli", "--no-plugins", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tree,
        )
        self.answers: queue.Queue[Any] = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if not line.strip():
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length is not None:
                try:
                    self.answers.put(json.loads(out.read(length)))
                except ValueError:
                    return

    def _drain(self) -> None:
        err = self.proc.stderr
        assert err is not None
        for line in err:
            self.stderr.append(line)

    def send(self, data: bytes) -> bool:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def answered(self, id: int, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                answer = self.answers.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if isinstance(answer, dict) and answer.get("id") == id:
                return True
        return False

    def peak_rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def close(self) -> None:
        self.send(message("shutdown", id=10**9) + message("exit"))
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _probe(server: Server, id: int, timeout: float) -> float | None:
    """The ms a hover request took to be answered, or None if it was not in time."""
    start = time.perf_counter()
    probe = message(
        "textDocument/hover",
        {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 1}},
        id=id,
    )
    if not server.send(probe) or not server.answered(id, timeout):
        return None
    return (time.perf_counter() - start) * 1000


def run(
    messages: int = 200,
    seed: int = 1,
    seconds: float = 600.0,
    probe_timeout: float = 30.0,
    per_session: int = 400,
    tree: Path = ROOT,
) -> Results:
    """Send up to ``messages`` generated messages (stopping after ``seconds``) to the server of
    the netdsl checkout ``tree`` (this one by default); see the module doc."""
    results = Results()
    gen = Messages(seed)
    start = time.perf_counter()
    server: Server | None = None
    probe_id = 2**40
    sent_in_session = 0
    for _ in range(messages):
        if time.perf_counter() - start > seconds:
            break
        if server is None:
            server = Server(tree)
            results.sessions += 1
            sent_in_session = 0
            server.send(
                message(
                    "initialize", {"processId": None, "rootUri": None, "capabilities": {}}, id=1
                )
            )
            server.answered(1, 60)
            server.send(message("initialized", {}))
            server.send(
                message(
                    "textDocument/didOpen",
                    {
                        "textDocument": {
                            "uri": URI,
                            "languageId": "netdsl",
                            "version": 1,
                            "text": SEED_PROGRAM,
                        }
                    },
                )
            )
        family, data = gen.next()
        results.tried[family] = results.tried.get(family, 0) + 1
        server.send(data)
        probe_id += 1
        took = _probe(server, probe_id, probe_timeout)
        sent_in_session += 1
        if took is None or server.proc.poll() is not None:
            kind = "exited" if server.proc.poll() is not None else "hang"
            results.escapes.append(
                {
                    "kind": kind,
                    "family": family,
                    "bytes": len(data),
                    "head": data[:120].decode("latin-1"),
                    "stderr": b"".join(server.stderr[-20:]).decode(errors="replace"),
                }
            )
            results.peak_rss_mb = max(results.peak_rss_mb, server.peak_rss_mb())
            server.proc.kill()
            server.proc.wait()
            server = None
            continue
        results.probe_ms.append(took)
        if sent_in_session >= per_session:
            results.peak_rss_mb = max(results.peak_rss_mb, server.peak_rss_mb())
            results.logged_errors += sum(
                b"ERROR" in line or b"error" in line for line in server.stderr
            )
            server.close()
            server = None
    if server is not None:
        results.peak_rss_mb = max(results.peak_rss_mb, server.peak_rss_mb())
        server.close()
        results.logged_errors += sum(b"ERROR" in line or b"error" in line for line in server.stderr)
    results.seconds = time.perf_counter() - start
    return results


def report(results: Results, args: argparse.Namespace) -> str:
    d = results.to_dict()
    rows = "\n".join(f"| {family} | {n:,} |" for family, n in sorted(d["tried"].items()))
    escapes = (
        "\n".join(
            f"- {e['kind']} after a `{e['family']}` message: `{e['head'][:60]!r}`"
            for e in d["escapes"]
        )
        or "none"
    )
    return (
        f"Generated by `python bench/fuzz_lsp.py --messages {args.messages} --seed {args.seed}` "
        f"against a real `netdsl lsp` over pipes: {d['total']:,} messages in {d['seconds']} s, "
        f"{d['sessions']} server session(s); after each, a hover probe answered within "
        f"{args.probe_timeout:.0f} s (p50 {d['probe_ms_p50']} ms, max {d['probe_ms_max']} ms). "
        f"Peak server memory (VmHWM) {d['peak_rss_mb']} MB. Errors the server logged and "
        f"survived: {d['logged_errors']:,}.\n\n| family | messages |\n|---|---:|\n{rows}\n\n"
        f"Escapes (server exited or stopped answering): {len(d['escapes'])}\n\n{escapes}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--probe-timeout", type=float, default=30.0)
    parser.add_argument("--per-session", type=int, default=400)
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="the netdsl checkout whose server is fuzzed (before/after)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results = run(
        args.messages, args.seed, args.seconds, args.probe_timeout, args.per_session, args.tree
    )
    if args.out:
        args.out.write_text(json.dumps(results.to_dict(), indent=2))
    print(report(results, args))
    return 1 if results.escapes else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
