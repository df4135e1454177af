"""A real ``netdsl serve`` process for the tests: a tiny model trained on synthetic data, the
server started on a free loopback port and stopped by SIGTERM, and raw-socket clients for the
misbehaving ones an HTTP library will not imitate."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: an 8x8 grey picture classified into three classes: small enough to train in a second, and
#: an input that takes images (base64, multipart) as well as numbers
SPEC = """dataset: synthetic(classes=3, train_size=64, test_size=16)
input: 8x8x1
epochs: 1
batch_size: 32
seed: 1

flatten -> dense 8 relu -> dense 3 softmax
"""

LISTENING = re.compile(r"serving (\S+) on http://127\.0\.0\.1:(\d+)/")


def train_tiny(root: Path) -> Path:
    """A run folder made by ``netdsl run`` for :data:`SPEC` (one epoch, a few seconds)."""
    spec = root / "tiny.net"
    spec.write_text(SPEC)
    subprocess.run(
        [sys.executable, "-m", "netdsl", "run", str(spec), "--out", str(root / "runs"), "--quiet"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (folder,) = (root / "runs").iterdir()
    return folder


@dataclass
class Server:
    """A running ``netdsl serve``: its process, URL and the lines it printed."""

    process: subprocess.Popen[str]
    name: str
    port: int
    stdout: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """The server's resident memory (Linux), to see that bad requests leak none."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status (the process is killed if it does not exit), once
        every line it printed is in :attr:`stdout`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        if self.reader is not None:
            self.reader.join(timeout)
        return code


@contextmanager
def serving(folder: Path, *options: str, startup: float = 120) -> Iterator[Server]:
    """``netdsl serve FOLDER --port 0 OPTIONS``, up and listening; stopped on exit."""
    with tempfile.TemporaryFile("w+") as errors:
        server = _start(folder, options, startup, errors)
        try:
            yield server
        finally:
            server.stop()


def _start(folder: Path, options: tuple[str, ...], startup: float, errors: Any) -> Server:
    process = subprocess.Popen(
        [sys.executable, "-m", "netdsl", "serve", str(folder), "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    lines: list[str] = []
    found: list[re.Match[str]] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if not found and (m := LISTENING.search(line)):
                found.append(m)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + startup
    while not found and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not found:
        process.kill()
        process.wait()
        errors.seek(0)
        raise RuntimeError(f"netdsl serve did not start: {''.join(lines)}{errors.read()[-3000:]}")
    return Server(process, found[0].group(1), int(found[0].group(2)), lines, reader)


def raw(port: int, data: bytes, timeout: float = 10) -> socket.socket:
    """A loopback connection that has sent ``data`` (and is left open)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(data)
    return sock


def read_reply(sock: socket.socket) -> bytes:
    """What the server sends until it closes (or resets) the connection or a response's end is
    seen; a server that does neither within the socket's timeout fails the test (TimeoutError)."""
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
            head, _, body = got.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: (\d+)", head)
            if length and len(body) >= int(length.group(1)):
                break
    except ConnectionResetError:
        pass
    return got
