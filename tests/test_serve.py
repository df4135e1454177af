"""``netdsl serve`` as a client meets it: a real server process on a loopback port, a tiny
model trained for it, and a real HTTP client (httpx) or raw sockets for the clients that
misbehave. Each test that needs the server is slow (the process loads TensorFlow)."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from netdsl.tools.cli import main

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("multipart")
httpx = pytest.importorskip("httpx")
Image = pytest.importorskip("PIL.Image")

from serve_process import Server, raw, read_reply, serving, train_tiny

LIMITS = ("--max-body-mb", "1", "--read-timeout", "3", "--header-timeout", "3")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def server(run_folder: Path) -> Iterator[Server]:
    with serving(run_folder, *LIMITS, "--max-instances", "32", "--max-connections", "300") as s:
        yield s


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Any]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8), dtype=np.uint8)


# --- what a client sees ---------------------------------------------------------------------


@pytest.mark.slow
def test_root_describes_the_model_from_its_plan(client: Any, server: Server) -> None:
    about = client.get("/").json()
    assert about["name"] == server.name == "tiny"
    assert about["inputs"] == [
        {
            "name": "x",
            "dtype": "float32",
            "shape": [8, 8, 1],
            "accepts": about["inputs"][0]["accepts"],
            "image": "converted to the input's channels, resized, scaled to [0, 1]",
        }
    ]
    assert "base64" in about["inputs"][0]["accepts"]
    out = about["outputs"][0]
    assert (out["kind"], out["shape"], out["classes"]) == ("classes", [3], ["0", "1", "2"])
    assert about["limits"]["max_body_bytes"] == 1 << 20
    assert client.get("/health").json()["status"] == "ok"


@pytest.mark.slow
def test_predictions_are_the_models_own(client: Any, run_folder: Path) -> None:
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(1).random((5, 8, 8, 1), dtype=np.float32)
    want = keras.saving.load_model(run_folder / "model.keras").predict(x, verbose=0)
    got = client.post("/predict?top=3", json={"instances": x.tolist()}).json()["predictions"]
    for row, p in zip(want, got):
        probs = {t["class"]: t["probability"] for t in p["top"]}
        np.testing.assert_allclose([probs[i] for i in range(3)], row, rtol=1e-5, atol=1e-7)
        assert [t["label"] for t in p["top"]] == [str(t["class"]) for t in p["top"]]
    tf = client.post("/v1/models/tiny:predict", json={"instances": x.tolist()}).json()
    np.testing.assert_allclose(tf["predictions"], want, rtol=1e-5, atol=1e-7)
    flat = client.post("/v1/models/tiny:predict", json={"inputs": x.reshape(5, 64).tolist()})
    np.testing.assert_allclose(flat.json()["outputs"], want, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_images_as_base64_multipart_or_numbers_agree(client: Any) -> None:
    digits = _digits(3)
    numbers = (digits / 255.0).tolist()
    b64 = [{"b64": base64.b64encode(_png(d)).decode()} for d in digits]
    files = [("x", (f"d{i}.png", _png(d), "image/png")) for i, d in enumerate(digits)]
    by_numbers = client.post("/v1/models/tiny:predict", json={"instances": numbers}).json()
    by_b64 = client.post("/v1/models/tiny:predict", json={"instances": b64}).json()
    by_files = client.post("/predict?top=1", files=files).json()["predictions"]
    np.testing.assert_allclose(by_b64["predictions"], by_numbers["predictions"], rtol=1e-5)
    best = np.argmax(by_numbers["predictions"], axis=1).tolist()
    assert [p["top"][0]["class"] for p in by_files] == best


@pytest.mark.slow
def test_tensorflow_serving_status_and_unknown_model(client: Any) -> None:
    status = client.get("/v1/models/tiny").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    other = client.post("/v1/models/other:predict", json={"instances": [[0] * 64]})
    assert other.status_code == 404 and "Servable not found" in other.json()["error"]


# --- bad input: refused with its field, the server unharmed ---------------------------------


NOT_IMAGE = base64.b64encode(b"GIF89a this is no picture").decode()


@pytest.mark.slow
@pytest.mark.parametrize(
    "body, status, field, message",
    [
        (b"{not json", 400, "body", "not valid JSON"),
        (b'{"instances": [[NaN]]}', 422, "body", "`NaN` is not a number"),
        (b'{"instances": [[Infinity]]}', 422, "body", "`Infinity` is not a number"),
        (b'{"instances": [[1e39]]}', 422, "instances[0]", "shape 1 (1 values)"),
        (json.dumps({"instances": [[1e39] * 64]}).encode(), 422, "instances[0]", "float32"),
        (json.dumps({"instances": [[0] * 63]}).encode(), 422, "instances[0]", "takes 64"),
        (
            json.dumps({"instances": [[0] * 64, ["a"] * 64]}).encode(),
            422,
            "instances[1]",
            "not all numbers",
        ),
        (
            json.dumps({"instances": [{"b64": NOT_IMAGE}]}).encode(),
            422,
            "instances[0].b64",
            "not a readable image",
        ),
        (json.dumps({"instances": [[0] * 64] * 33}).encode(), 413, "instances", "over the limit"),
        (json.dumps({"rows": [[0] * 64]}).encode(), 422, "rows", "unknown field"),
        (b"", 400, "body", "no body"),
    ],
    ids=[
        "invalid-json",
        "nan",
        "infinity",
        "wrong-shape",
        "float32-overflow",
        "short",
        "strings",
        "not-an-image",
        "too-many-instances",
        "unknown-field",
        "empty",
    ],
)
def test_bad_input_is_refused_with_its_field(
    client: Any, body: bytes, status: int, field: str, message: str
) -> None:
    for path in ("/predict", "/v1/models/tiny:predict"):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, r.text
        assert r.json()["field"] == field and message in r.json()["error"], r.text
    assert client.get("/health").status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("top", ["0", "-1", "two", "²", "1.5"], ids=str)
def test_a_bad_top_is_refused(client: Any, top: str) -> None:
    r = client.post("/predict", params={"top": top}, json={"instances": [[0] * 64]})
    assert r.status_code == 422 and r.json()["field"] == "top", r.text


@pytest.mark.slow
@pytest.mark.parametrize(
    "length", [b"\xb2", b"-5", b"1e3"], ids=["superscript", "negative", "float"]
)
def test_a_bad_content_length_is_refused(server: Server, length: bytes) -> None:
    sock = raw(
        server.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
    )
    reply = read_reply(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]


@pytest.mark.slow
def test_a_multipart_part_that_is_not_an_image(client: Any) -> None:
    r = client.post("/predict", files=[("x", ("notes.txt", b"hello", "text/plain"))])
    assert r.status_code == 422 and r.json()["field"] == "x[0]"
    r = client.post("/predict", files=[("photo", ("a.png", _png(_digits(1)[0]), "image/png"))])
    assert r.status_code == 422 and "photo" in r.json()["error"]


@pytest.mark.slow
def test_a_100_mb_body_is_refused_before_it_is_read(server: Server) -> None:
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    declared = raw(server.port, head + b"Content-Length: 104857600\r\n\r\n" + b"[" * 65536)
    reply = read_reply(declared)
    declared.close()
    assert reply.startswith(b"HTTP/1.1 413") and b"the limit is 1,048,576 bytes" in reply
    # no declared length: the body is counted as it streams in
    chunked = raw(server.port, head + b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (1 << 16, b" " * (1 << 16))
    sent, started = 0, time.monotonic()
    try:
        while sent < 100 << 20 and time.monotonic() - started < 20:
            chunked.sendall(chunk)
            sent += 1 << 16
    except (BrokenPipeError, ConnectionResetError):
        pass
    reply = read_reply(chunked)
    chunked.close()
    assert sent < 100 << 20  # refused long before 100 MB were sent
    assert reply.startswith(b"HTTP/1.1 413") or reply == b""


@pytest.mark.slow
def test_slow_clients_are_cut_off(server: Server, client: Any) -> None:
    # headers sent, then a body that never finishes: 408 after --read-timeout
    body = raw(server.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[1,")
    # headers never finished (slowloris): the connection is closed after --header-timeout
    headers = raw(server.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    silent = raw(server.port, b"")
    started = time.monotonic()
    assert client.get("/health").status_code == 200  # served meanwhile
    assert read_reply(body).startswith(b"HTTP/1.1 408")
    assert read_reply(headers) == b"" and read_reply(silent) == b""
    assert time.monotonic() - started < 20
    for s in (body, headers, silent):
        s.close()


@pytest.mark.slow
def test_thousands_of_connections_and_bad_requests_leak_nothing(
    server: Server, client: Any
) -> None:
    good = {"instances": _digits(4).reshape(4, 64).tolist()}
    for _ in range(50):  # warm: allocator pools, compiled batch sizes
        client.post("/predict", json=good)
        client.post("/predict", content=b"{bad")
    before = server.rss_kib()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (2100, hard))
    socks = []
    for i in range(2000):
        try:
            socks.append(raw(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n" if i % 2 else b""))
        except OSError:
            break
    assert len(socks) >= 900  # 2,000 where the open-file limit allows
    r = httpx.get(f"{server.url}/health", timeout=30)
    assert r.status_code in (200, 503)  # 503: over --max-connections, not a crash
    for s in socks:
        s.close()
    bad = [b"{bad", b'{"instances": [[NaN]]}', json.dumps({"instances": [[0] * 7]}).encode()]
    for i in range(600):
        client.post("/predict", content=bad[i % 3])
        if i % 3 == 0:
            assert client.post("/predict", json=good).status_code == 200
    after = server.rss_kib()
    assert after - before < 40_000, f"resident memory grew from {before} to {after} KiB"
    assert client.get("/health").status_code == 200


@pytest.mark.slow
def test_concurrent_requests_are_batched(server: Server) -> None:
    before = httpx.get(f"{server.url}/health").json()["batching"]
    x = _digits(32, seed=3).reshape(32, 64) / 255.0

    def one(i: int) -> list[float]:
        r = httpx.post(f"{server.url}/v1/models/tiny:predict", json={"instances": [x[i].tolist()]})
        assert r.status_code == 200
        return list(r.json()["predictions"][0])

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        alone = list(pool.map(one, range(32)))
    after = httpx.get(f"{server.url}/health").json()["batching"]
    together = httpx.post(f"{server.url}/v1/models/tiny:predict", json={"instances": x.tolist()})
    np.testing.assert_allclose(alone, together.json()["predictions"], rtol=1e-5, atol=1e-7)
    assert after["requests"] - before["requests"] == 32
    assert after["model_calls"] - before["model_calls"] < 32  # some requests shared a call
    assert after["largest_batch"] > 1


# --- starting and stopping -------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_answers_requests_in_flight_then_exits(run_folder: Path) -> None:
    options = ("--batch-window-ms", "1000", "--max-batch", "64", "--access-log")
    body = json.dumps({"instances": [[0.5] * 64]}).encode()
    post = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    with serving(run_folder, *options) as server:
        waiting = [raw(server.port, post, timeout=30) for _ in range(4)]
        # answered after the four were read (one event loop, in order): they wait in the window
        probe = raw(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", timeout=30)
        assert read_reply(probe).startswith(b"HTTP/1.1 200")
        code = server.stop()
        replies = [read_reply(s) for s in waiting]
        for s in (*waiting, probe):
            s.close()
        assert code == 0
        assert [r[:12] for r in replies] == [b"HTTP/1.1 200"] * 4
        assert all(b'"predictions"' in r for r in replies)
        assert "stopped by SIGTERM" in "".join(server.stdout)
        assert '"POST /predict HTTP/1.1" 200' in "".join(server.stdout)  # --access-log
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=5)


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_a_port_in_use_is_an_error_before_the_model_loads(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = _invoke("serve", str(tmp_path), "--port", str(port))
    assert result.exit_code == 1
    assert "NDL431" in result.output and f"cannot listen on 127.0.0.1:{port}" in result.output


def test_the_socket_listens_before_the_address_is_printed() -> None:
    from netdsl.tools.serve.server import listen

    with listen("127.0.0.1", 0) as sock:  # accepted by nobody yet: the backlog holds it
        socket.create_connection(sock.getsockname(), timeout=5).close()


def test_connections_are_accepted_without_nagles_delay() -> None:
    """asyncio sets TCP_NODELAY only on a socket whose protocol is TCP by name: without it a
    response's body waited 40 ms for the client's delayed ACK of its headers."""
    from netdsl.tools.serve.server import listen

    with listen("127.0.0.1", 0) as sock:
        client = socket.create_connection(sock.getsockname(), timeout=5)
        accepted, _ = sock.accept()
        with client, accepted:
            assert accepted.proto == socket.IPPROTO_TCP
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_another_host_is_warned_about(tmp_path: Path) -> None:
    result = _invoke("serve", str(tmp_path / "missing"), "--host", "0.0.0.0", "--port", "0")
    assert "warning: listening on 0.0.0.0" in result.output
    assert result.exit_code == 1 and "NDL311" in result.output  # not a run folder


def test_without_the_web_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    result = _invoke("serve", str(tmp_path))
    assert result.exit_code == 1
    assert "NDL430" in result.output and "pip install 'netdsl[web]'" in result.output
