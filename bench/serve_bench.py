"""``netdsl serve`` against a hand-written FastAPI + ``model.predict`` server
(bench/serve_baseline.py), same model, same requests, one command:

    PYTHONPATH=.:plugins python bench/serve_bench.py [--requests 1:100,8:400,64:640]

The model is the seed MLP (examples/mnist.net's layers, 784 inputs, 10 classes) trained for one
epoch on synthetic data (speed does not depend on the weights). Each server is started alone on
a free loopback port, warmed up, then loaded at each concurrency with a bounded number of
requests, each one instance (784 numbers) sent to ``POST /v1/models/<name>:predict``. The load
comes from this process: ``concurrency`` keep-alive connections on a minimal asyncio HTTP/1.1
client (prebuilt request bytes), each sending its next request when the last is answered.
Every answer is checked (status 200, 10 probabilities). Loopback only; bounded by count and
time. Prints a Markdown table and writes bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / "plugins"), *filter(None, [os.environ.get("PYTHONPATH")])]
    ),
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
SPEC = """dataset: synthetic(classes=10, train_size=512, test_size=64)
input: 28x28x1
epochs: 1
seed: 1

dense 64 relu l2 -> dense 10 softmax
"""
TIME_LIMIT = 120.0  # seconds for one concurrency level, whatever the count


def train(root: Path) -> Path:
    spec = root / "mlp.net"
    spec.write_text(SPEC)
    subprocess.run(
        [sys.executable, "-m", "netdsl", "run", str(spec), "--out", str(root), "--quiet"],
        check=True,
        env=ENV,
        capture_output=True,
    )
    return next(p for p in root.iterdir() if p.is_dir())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(kind: str, folder: Path, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    if kind == "netdsl":
        cmd = [sys.executable, "-m", "netdsl", "serve", str(folder), "--port", str(port), *extra]
    else:
        cmd = [sys.executable, str(ROOT / "bench" / "serve_baseline.py"), str(folder)]
        cmd += ["--port", str(port)]
    process = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{kind} server did not start")


def request_bytes(name: str) -> bytes:
    row = [round(i / 784, 4) for i in range(784)]
    body = json.dumps({"instances": [row]}).encode()
    head = (
        f"POST /v1/models/{name}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def connection(port: int, request: bytes, count: int, out: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            out.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{head[:40]!r} {body[:200]!r}")
            if len(json.loads(body)["predictions"][0]) != 10:
                raise RuntimeError(f"unexpected answer {body[:200]!r}")
    finally:
        writer.close()


async def load(port: int, request: bytes, concurrency: int, total: int) -> dict[str, float]:
    """``total`` requests over ``concurrency`` connections, within :data:`TIME_LIMIT`."""
    latencies: list[float] = []
    each = max(1, total // concurrency)
    started = time.perf_counter()
    jobs = [
        asyncio.ensure_future(connection(port, request, each, latencies))
        for _ in range(concurrency)
    ]
    done, pending = await asyncio.wait(jobs, timeout=TIME_LIMIT)
    for job in pending:  # out of time: what was answered so far is the measure
        job.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for job in done:
        job.result()  # a wrong answer fails the bench
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "timed_out": bool(pending),
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def measure(
    kind: str, folder: Path, levels: list[tuple[int, int]], extra: list[str]
) -> dict[int, dict[str, float]]:
    port = free_port()
    process = start(kind, folder, port, extra)
    name = "mlp" if kind == "netdsl" else "baseline"
    request = request_bytes(name)
    try:
        asyncio.run(load(port, request, 4, 40))  # warm-up: compiled batch sizes, pools
        results = {}
        for c, n in levels:
            calls = model_calls(port)
            results[c] = asyncio.run(load(port, request, c, n))
            if calls is not None:  # netdsl serve counts its model calls
                results[c]["model_calls"] = model_calls(port) - calls  # type: ignore[operator]
        return results
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def model_calls(port: int) -> int | None:
    """``netdsl serve``'s count of model calls so far (``GET /health``); None for the baseline."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    batching = json.loads(reply.partition(b"\r\n\r\n")[2]).get("batching")
    return int(batching["model_calls"]) if batching else None


def table(results: dict[str, dict[int, dict[str, float]]]) -> str:
    lines = [
        "| concurrency | requests (netdsl / baseline) | netdsl serve req/s | p50 ms | p99 ms "
        "| FastAPI + model.predict req/s | p50 ms | p99 ms | throughput × |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ours, base = results["netdsl"], results["baseline"]
    for c in ours:
        a, b = ours[c], base[c]
        cut = " (cut at the time limit)" if b["timed_out"] or a["timed_out"] else ""
        lines.append(
            f"| {c} | {a['requests']:.0f} / {b['requests']:.0f}{cut} | {a['rps']:.1f} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} "
            f"| {b['rps']:.1f} | {b['p50_ms']:.1f} | {b['p99_ms']:.1f} | {a['rps'] / b['rps']:.1f} |"
        )
    calls = ", ".join(
        f"{c}: {ours[c]['requests'] / ours[c]['model_calls']:.1f}"
        for c in ours
        if ours[c].get("model_calls")
    )
    return "\n".join(lines) + f"\n\nnetdsl serve, requests per model call by concurrency: {calls}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests",
        default="1:100,8:400,64:640",
        help="concurrency:requests pairs (default %(default)s)",
    )
    parser.add_argument("--serve-option", action="append", default=[], help="passed to serve")
    args = parser.parse_args()
    levels = [(int(c), int(n)) for c, n in (p.split(":") for p in args.requests.split(","))]
    with tempfile.TemporaryDirectory() as tmp:
        folder = train(Path(tmp))
        results = {
            kind: measure(kind, folder, levels, args.serve_option)
            for kind in ("netdsl", "baseline")
        }
    print(table(results))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.json").write_text(json.dumps({"levels": levels, "results": results}, indent=2))


if __name__ == "__main__":
    main()
