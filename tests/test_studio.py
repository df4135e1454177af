"""``netdsl studio`` without a browser: its guard (files inside one folder, loopback hosts and
same-origin requests only) and its JSON API, in process through Starlette's test client, and
the command line. The page itself is driven by a real browser in test_studio_browser.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("lsprotocol")

import warnings

from click.testing import CliRunner
from conftest import ROOT

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from netdsl.errors import StudioError
from netdsl.tools.cli import main as cli_main
from netdsl.tools.studio.app import create_app
from netdsl.tools.studio.guard import Confined, OriginGuard, allowed_hosts
from netdsl.vocab.registry import Registry

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
JSON = {"Content-Type": "application/json"}
BAD = "dense 64 relux -> dense 10 softmax\n"
GOOD = "dense 64 relu -> dense 10 softmax\n"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    (root / "model.net").write_text(GOOD)
    (tmp_path / "secret.net").write_text("dense 1\n")
    return root


@pytest.fixture()
def client(folder: Path, registry: Registry) -> TestClient:
    app = create_app(folder, None, registry, allowed_hosts("127.0.0.1", PORT))
    return TestClient(app, base_url=BASE)


def post(client: TestClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(path, content=json.dumps(body), headers={**JSON, **headers})


# --- files stay inside the folder -------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["../secret.net", "/etc/passwd", "a/../../secret.net", "", "out/../../x.net", "nul\x00.net"],
    ids=["parent", "absolute", "climbs-out", "empty", "nested-climb", "nul-byte"],
)
def test_a_path_outside_the_folder_is_refused(folder: Path, name: str) -> None:
    with pytest.raises(StudioError, match="not inside the studio's folder"):
        Confined(folder).path(name)


def test_a_symlink_out_of_the_folder_is_refused_and_one_inside_is_followed(folder: Path) -> None:
    (folder / "link.net").symlink_to(folder.parent / "secret.net")
    (folder / "sub").mkdir()
    (folder / "sub" / "out").symlink_to(folder.parent)
    (folder / "alias.net").symlink_to(folder / "model.net")
    files = Confined(folder)
    for name in ("link.net", "sub/out/secret.net"):
        with pytest.raises(StudioError):
            files.path(name)
    assert files.path("alias.net") == folder / "model.net"
    assert files.path("new/dir/x.net") == folder / "new" / "dir" / "x.net"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/open", {"name": "../secret.net"}),
        ("/api/open", {"name": "link.net"}),
        ("/api/save", {"name": "../evil.net", "text": "x"}),
        ("/api/save", {"name": "link.net", "text": "x"}),
        ("/api/check", {"name": "../x.net", "text": GOOD}),
        ("/api/run", {"name": "../x.net", "text": GOOD}),
        ("/api/resume", {"run": "../work"}),
    ],
    ids=["open-parent", "open-symlink", "save-parent", "save-symlink", "check", "run", "resume"],
)
def test_the_api_refuses_paths_outside_the_folder(
    client: TestClient, folder: Path, path: str, body: dict[str, Any]
) -> None:
    (folder / "link.net").symlink_to(folder.parent / "secret.net")
    r = post(client, path, body)
    assert r.status_code == 400
    assert r.json()["code"] == "NDL410"
    assert (folder.parent / "secret.net").read_text() == "dense 1\n"
    assert not (folder.parent / "evil.net").exists()


def test_run_names_are_plain_names_under_runs(client: TestClient, folder: Path) -> None:
    (folder / "runs").mkdir()
    (folder / "runs" / "away").symlink_to(folder)  # holds model.net, but is a link
    for name in ("away", "..", "nothing"):
        r = client.get(f"/api/runs/{name}/history")
        assert r.status_code in (400, 404), name
    assert client.get("/api/runs/..%2F..%2Fetc/history").status_code in (400, 404)


# --- other sites and other host names are refused -------------------------------------------
@pytest.mark.parametrize(
    ("method", "headers", "refused"),
    [
        ("GET", {"host": "127.0.0.1:8765"}, False),
        ("GET", {"host": "localhost:8765"}, False),
        ("GET", {"host": "[::1]:8765"}, False),
        ("GET", {"host": "evil.example:8765"}, True),  # DNS rebinding: a name that resolves here
        ("GET", {"host": "127.0.0.1:9999"}, True),
        ("GET", {"host": ""}, True),
        ("POST", {"host": "127.0.0.1:8765", "content-type": "application/json"}, False),
        (
            "POST",
            {
                "host": "127.0.0.1:8765",
                "origin": "http://127.0.0.1:8765",
                "content-type": "application/json",
            },
            False,
        ),
        (
            "POST",
            {
                "host": "127.0.0.1:8765",
                "origin": "https://evil.example",
                "content-type": "application/json",
            },
            True,
        ),
        (
            "POST",
            {"host": "127.0.0.1:8765", "origin": "null", "content-type": "application/json"},
            True,
        ),
        ("POST", {"host": "127.0.0.1:8765", "content-type": "text/plain"}, True),  # a form's
        ("POST", {"host": "127.0.0.1:8765"}, True),
        (
            "POST",
            {
                "host": "127.0.0.1:8765",
                "sec-fetch-site": "cross-site",
                "content-type": "application/json",
            },
            True,
        ),
    ],
    ids=[
        "loopback",
        "localhost",
        "ipv6",
        "rebound-name",
        "other-port",
        "no-host",
        "post-json",
        "same-origin",
        "other-origin",
        "null-origin",
        "form-post",
        "no-content-type",
        "cross-site-fetch",
    ],
)
def test_the_guard(method: str, headers: dict[str, str], refused: bool) -> None:
    guard = OriginGuard(object(), allowed_hosts("127.0.0.1", PORT))
    assert (guard.refusal(method, headers) is not None) == refused


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Host": "attacker.example"}, 403),
        ({"Origin": "http://attacker.example"}, 403),
        ({"Origin": BASE}, 200),
    ],
    ids=["own", "rebound-host", "other-origin", "own-origin"],
)
def test_the_server_answers_only_its_own_pages(
    client: TestClient, folder: Path, headers: dict[str, str], status: int
) -> None:
    r = post(client, "/api/save", {"name": "new.net", "text": GOOD}, **headers)
    assert r.status_code == status
    assert (folder / "new.net").exists() == (status == 200)
    assert client.get(
        "/", headers={k: v for k, v in headers.items() if k == "Host"}
    ).status_code == (403 if "Host" in headers else 200)


def test_a_form_post_from_another_site_is_refused(client: TestClient, folder: Path) -> None:
    r = client.post("/api/save", data={"name": "form.net", "text": "x"}, headers={"Origin": "null"})
    assert r.status_code == 403
    assert not (folder / "form.net").exists()


@pytest.mark.parametrize(
    ("host", "port", "expected", "not_expected"),
    [
        ("127.0.0.1", 8000, {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}, {"127.0.0.1"}),
        ("::1", 80, {"[::1]", "[::1]:80", "localhost"}, set()),
        ("192.168.1.5", 8765, {"192.168.1.5:8765"}, {"localhost:8765"}),
        ("0.0.0.0", 8765, {"0.0.0.0:8765", "127.0.0.1:8765"}, {"evil:8765"}),
    ],
    ids=["loopback", "ipv6-port-80", "lan-address", "any"],
)
def test_allowed_hosts(host: str, port: int, expected: set[str], not_expected: set[str]) -> None:
    hosts = allowed_hosts(host, port)
    assert expected <= hosts
    assert not (not_expected & hosts)


def test_on_every_address_the_machine_s_own_name_is_accepted() -> None:
    import socket

    hosts = allowed_hosts("0.0.0.0", 8765)
    assert f"{socket.gethostname()}:8765" in hosts
    assert f"{socket.gethostname()}:8765" not in allowed_hosts("127.0.0.1", 8765)


# --- the editor's answers are the language server's ------------------------------------------
def test_check_gives_diagnostics_with_their_fix(client: TestClient) -> None:
    r = post(client, "/api/check", {"name": "model.net", "text": BAD}).json()
    (d,) = r["diagnostics"]
    assert d["code"] == "NDL003" and d["severity"] == "error"
    assert d["from"] == {"line": 0, "character": 9} and d["to"] == {"line": 0, "character": 14}
    assert "did you mean `relu`" in d["message"]
    assert r["fixes"] == [
        {
            "title": "Replace `relux` with `relu`",
            "from": d["from"],
            "to": d["to"],
            "insert": "relu",
        }
    ]
    assert r["summary"] is None


def test_check_of_a_valid_program_gives_the_summary_with_implicit_adapters(
    client: TestClient,
) -> None:
    text = "dataset: synthetic(classes, classes=3)\ninput: 8x8x1\nconv2d 4 3 -> dense 3 softmax\n"
    r = post(client, "/api/check", {"name": "model.net", "text": text}).json()
    assert r["diagnostics"] == [] and r["fixes"] == []
    assert "flatten (implicit)" in r["summary"]


def test_positions_count_utf16_units_as_the_browser_does(client: TestClient) -> None:
    text = "# ünïcödé 🙂\ndense 64 relux -> dense 10 softmax\n"
    (d,) = post(client, "/api/check", {"name": "model.net", "text": text}).json()["diagnostics"]
    assert d["from"] == {"line": 1, "character": 9}
    text = "dense 64 relu -> dense 10 softmax  # 🙂 relux\n" + "dense 1 🙂x\n"
    r = post(client, "/api/check", {"name": "model.net", "text": "#🙂🙂\n" + BAD}).json()
    assert r["diagnostics"][0]["from"] == {"line": 1, "character": 9}


def test_hover_gives_shape_and_parameters(client: TestClient) -> None:
    body = {"name": "model.net", "text": GOOD, "line": 0, "character": 2}
    md = post(client, "/api/hover", body).json()["markdown"]
    assert "(None, 64)" in md and "50,240" in md
    body["character"] = 8  # the space after `64`
    assert post(client, "/api/hover", body).json()["markdown"] is None


def test_completion_after_an_arrow_offers_layers(client: TestClient) -> None:
    text = "dense 64 relu -> "
    body = {"name": "model.net", "text": text, "line": 0, "character": len(text)}
    items = post(client, "/api/complete", body).json()["items"]
    labels = {i["label"] for i in items}
    assert {"dense", "conv2d", "dropout"} <= labels
    assert "relu" not in labels


def test_diagram_is_graphviz_svg_with_implicit_layers_dashed(client: TestClient) -> None:
    pytest.importorskip("graphviz")
    import shutil

    text = "dataset: synthetic(classes, classes=3)\ninput: 8x8x1\nconv2d 4 3 -> dense 3 softmax\n"
    r = post(client, "/api/diagram", {"name": "model.net", "text": text}).json()
    if shutil.which("dot") is None:
        assert r["svg"] is None and "dot" in r["message"]
        return
    assert "<svg" in r["svg"] and "flatten (implicit)" in r["svg"]
    assert "stroke-dasharray" in r["svg"]
    r = post(client, "/api/diagram", {"name": "model.net", "text": BAD}).json()
    assert r["svg"] is None and "checks" in r["message"] and r["key"] is None


def test_graphviz_runs_once_per_graph(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit that leaves the graph as it was (a comment, a setting) reuses its picture."""
    import netdsl.tools.diagram as diagram

    drawn: list[str] = []
    monkeypatch.setattr(diagram, "render", lambda model, fmt: drawn.append(fmt) or "<svg/>")
    for text in (GOOD, "# a comment\n" + GOOD, "epochs: 3\n" + GOOD):
        assert post(client, "/api/diagram", {"name": "m.net", "text": text}).json()["svg"]
    assert drawn == ["svg"]
    post(client, "/api/diagram", {"name": "m.net", "text": GOOD.replace("64", "65")})
    assert drawn == ["svg", "svg"]


def test_the_page_s_own_picture_is_not_sent_again(client: TestClient) -> None:
    first = post(client, "/api/diagram", {"name": "m.net", "text": GOOD}).json()
    assert first["key"]
    body = {"name": "m.net", "text": "# same graph\n" + GOOD, "have": first["key"]}
    assert post(client, "/api/diagram", body).json() == {
        "svg": None,
        "key": first["key"],
        "message": None,
    }
    body["text"] = GOOD.replace("64", "65")
    changed = post(client, "/api/diagram", body).json()
    assert changed["key"] != first["key"] and (changed["svg"] or changed["message"])


def test_open_and_save_stay_in_the_folder_and_never_lose_a_file(
    client: TestClient, folder: Path
) -> None:
    opened = post(client, "/api/open", {}).json()
    assert opened["example"] is True and "synthetic" in opened["text"]
    assert post(client, "/api/open", {"name": "model.net"}).json()["text"] == GOOD
    new = post(client, "/api/open", {"name": "sub/new.net"}).json()
    assert new == {"name": "sub/new.net", "text": None, "example": False}
    assert post(client, "/api/save", {"name": "sub/new.net", "text": BAD}).json()["saved"]
    assert (folder / "sub" / "new.net").read_text() == BAD
    post(client, "/api/save", {"name": "model.net", "text": BAD})
    assert (folder / "model.net").read_text() == BAD
    (folder / "adir.net").mkdir()
    assert post(client, "/api/save", {"name": "adir.net", "text": BAD}).status_code == 400
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "h.net").write_text(GOOD)
    (folder / "runs" / "r").mkdir(parents=True)
    (folder / "runs" / "r" / "model.net").write_text(GOOD)
    (folder / "out.net").symlink_to(folder.parent / "secret.net")
    assert client.get("/api/files").json()["files"] == ["model.net", "sub/new.net"]


def test_the_file_given_opens_first(folder: Path, registry: Registry) -> None:
    app = create_app(folder, "model.net", registry, allowed_hosts("127.0.0.1", PORT))
    opened = post(TestClient(app, base_url=BASE), "/api/open", {}).json()
    assert opened == {"name": "model.net", "text": GOOD, "example": False}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_file_that_cannot_be_written_is_a_clear_error(client: TestClient, folder: Path) -> None:
    (folder / "locked").mkdir()
    (folder / "locked").chmod(0o500)
    try:
        r = post(client, "/api/save", {"name": "locked/new.net", "text": GOOD})
    finally:
        (folder / "locked").chmod(0o700)
    assert r.status_code == 400 and "Permission denied" in r.json()["error"]


def test_a_runs_file_in_the_way_is_a_clear_error(client: TestClient, folder: Path) -> None:
    (folder / "runs").write_text("not a folder")
    r = post(client, "/api/run", {"name": "model.net", "text": GOOD})
    assert r.status_code == 400 and "runs" in r.json()["error"]
    assert (folder / "runs").read_text() == "not a folder"


def test_the_example_checks_and_trains_on_synthetic_data(client: TestClient) -> None:
    example = post(client, "/api/open", {}).json()
    r = post(client, "/api/check", {"name": example["name"], "text": example["text"]}).json()
    assert r["diagnostics"] == []
    assert "synthetic" in r["summary"] and "(implicit)" in r["summary"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"text": 3}', 400),
        (b'{"name": "model.net"}', 400),
        (b'{"text": "' + b"x" * (1 << 20) + b'"}', 413),
    ],
    ids=["not-json", "not-an-object", "text-not-a-string", "no-text", "too-large"],
)
def test_bad_requests_get_a_clear_answer(client: TestClient, body: bytes, status: int) -> None:
    r = client.post("/api/check", content=body, headers=JSON)
    assert r.status_code == status
    assert r.json()["error"]


# --- runs: read from ordinary run folders ----------------------------------------------------
def _run_folder(root: Path, name: str, epochs: int, status: str) -> Path:
    folder = root / "runs" / name
    folder.mkdir(parents=True)
    (folder / "model.net").write_text(GOOD)
    rows = [{"loss": 1.0 / (i + 1), "accuracy": 0.5 + i / 10} for i in range(epochs)]
    (folder / "history.json").write_text(json.dumps({"epochs": rows}))
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "status": status,
                "epochs_completed": epochs,
                "epochs_planned": 4,
                "started": f"2026-01-0{epochs}T00:00:00",
                "test": {"loss": 0.5, "accuracy": 0.75} if status == "finished" else {},
            }
        )
    )
    if status == "finished":
        (folder / "confusion.json").write_text(
            json.dumps({"classes": ["a", "b"], "matrix": [[3, 1], [0, 4]]})
        )
    return folder


def test_runs_history_and_confusion(client: TestClient, folder: Path) -> None:
    _run_folder(folder, "one", 4, "finished")
    _run_folder(folder, "two", 2, "stopped")
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == ["one", "two"]
    assert runs[0]["metric"] == {"name": "accuracy", "value": 0.75}
    assert all("path" not in r for r in runs)
    h = client.get("/api/runs/two/history").json()
    assert h["status"] == "stopped" and h["planned"] == 4 and len(h["epochs"]) == 2
    c = client.get("/api/runs/one/confusion").json()["confusion"]
    assert c == {"classes": ["a", "b"], "matrix": [[3, 1], [0, 4]]}
    assert client.get("/api/runs/two/confusion").json()["confusion"] is None


def test_stop_without_a_run_says_so(client: TestClient) -> None:
    r = post(client, "/api/stop", {})
    assert r.status_code == 400 and "no run is in progress" in r.json()["error"]
    assert client.get("/api/status").json()["active"] is False


# --- the command line ---------------------------------------------------------------------------
def test_a_file_outside_the_current_folder_is_a_usage_error(tmp_path: Path) -> None:
    outside = tmp_path / "outside.net"
    outside.write_text(GOOD)
    inside = tmp_path / "in"
    inside.mkdir()
    runner = CliRunner()
    cwd = os.getcwd()
    try:
        os.chdir(inside)
        result = runner.invoke(cli_main, ["studio", str(outside), "--port", "0"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2
    assert "outside the current folder" in result.output


def _serve(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `netdsl studio` and read the line that says where it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "netdsl", "studio", "--port", "0", *args],
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])},
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "netdsl studio: http://" in line:
            break
    return proc, "".join(lines)


@pytest.mark.parametrize(
    ("host", "warned"),
    # 127.0.0.2 stands for any other address: loopback still (Linux routes 127/8 there), so the
    # test never listens beyond this machine
    [("127.0.0.1", False), ("localhost", False), ("127.0.0.2", True)],
    ids=["loopback", "localhost", "other-address"],
)
def test_listening_beyond_loopback_warns(tmp_path: Path, host: str, warned: bool) -> None:
    proc, said = _serve(["--host", host], tmp_path)
    try:
        assert ("anyone who can reach it can run programs and read files" in said) == warned
        assert f"http://{host}:" in said
    finally:
        proc.terminate()
        proc.wait(30)


# --- training for real: start, stop, resume -------------------------------------------------
LONG = (
    "dataset: synthetic(classes, classes=3, train_size=8000, test_size=64)\n"
    "input: 8x8x1\nbatch_size: 32\n"
    "conv2d 8 3 relu same -> dense 32 relu -> dense 3 softmax\n"
)


def _wait(client: TestClient, until: Any, timeout: float = 240.0) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get("/api/status").json()
        if until(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"timed out; the run said: {status}")


@pytest.mark.slow
def test_start_stop_and_resume_a_run(
    client: TestClient, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))
    (folder / "long.net").write_text(LONG)  # saved: the run is named after the file
    r = post(client, "/api/run", {"name": "long.net", "text": LONG, "epochs": 4})
    assert r.status_code == 200 and r.json()["running"]
    again = post(client, "/api/run", {"name": "long.net", "text": LONG})
    assert again.status_code == 400 and "already in progress" in again.json()["error"]

    def one_epoch(s: dict[str, Any]) -> bool:
        if not s["run"]:
            return False
        return len(client.get(f"/api/runs/{s['run']}/history").json()["epochs"]) >= 1

    name = _wait(client, one_epoch)["run"]
    assert name.startswith("long-")
    post(client, "/api/stop", {})
    status = _wait(client, lambda s: not s["running"])
    assert status["exit"] == 143, status["log"]  # stopped by SIGTERM
    h = client.get(f"/api/runs/{name}/history").json()
    assert h["status"] == "stopped" and 1 <= len(h["epochs"]) < 4

    assert post(client, "/api/resume", {"run": name}).json()["running"]
    status = _wait(client, lambda s: not s["running"])
    assert status["exit"] == 0 and status["run"] == name, status["log"]
    h = client.get(f"/api/runs/{name}/history").json()
    assert h["status"] == "finished" and len(h["epochs"]) == 4
    (row,) = client.get("/api/runs").json()["runs"]
    assert row["resumed"] == 1 and row["metric"]["name"] == "accuracy"


def test_the_listening_socket_lets_asyncio_turn_nagle_off() -> None:
    """A regression: a socket made with protocol 0 kept Nagle on, and every keep-alive answer
    of the studio waited ~40 ms for a delayed ACK (the page's checks took 45 ms, not 5)."""
    import asyncio
    import socket

    from netdsl.tools.cli.commands.studio import _listen

    sock = _listen("127.0.0.1", 0)
    nodelay: list[int] = []

    async def main() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("socket")
            nodelay.append(peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        for _ in range(100):
            if nodelay:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    asyncio.run(main())
    assert nodelay and nodelay[0] != 0


def test_the_server_never_imports_tensorflow(tmp_path: Path) -> None:
    """Training runs in its own process; the page's server stays light (checks, diagrams)."""
    code = (
        "import sys\n"
        "from starlette.testclient import TestClient\n"
        "from netdsl.vocab.registry import load_registry\n"
        "from netdsl.tools.studio.app import create_app\n"
        "from netdsl.tools.studio.guard import allowed_hosts\n"
        "app = create_app('.', None, load_registry(), allowed_hosts('127.0.0.1', 8765))\n"
        "c = TestClient(app, base_url='http://127.0.0.1:8765')\n"
        "h = {'Content-Type': 'application/json'}\n"
        "text = c.post('/api/open', json={}, headers=h).json()['text']\n"
        "for path in ('/api/check', '/api/diagram'):\n"
        "    assert c.post(path, json={'text': text}, headers=h).status_code == 200\n"
        "assert c.get('/api/runs').status_code == 200\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax')]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
