"""The language server end to end: a real LSP client (pygls's) talks to ``netdsl lsp`` over stdio.

Each scenario starts the server as a subprocess (``python -m netdsl.tools.cli lsp``), opens and edits a
document, and checks what comes back: diagnostics with the same codes, spans, help and notes as
``netdsl check``; completion, hover, definition, symbols, formatting and quick fixes. The
in-process tests below pin the completion contexts and the robustness against bad input.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygls")

from conftest import EXAMPLES, ROOT
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from netdsl.tools.lsp_features import Positions, analyze
from netdsl.vocab.registry import Registry

URI = "file:///tmp/model.net"
BAD = "epochz: 3\ndense 64 relu6x -> dense 10 softmax\n"
GOOD = "dense 64 relu l2 -> dense 10 softmax\n"


class Session:
    """A client connected to a fresh server, with what the server pushed so far."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.diagnostics: dict[str, list[tuple[int | None, list[lsp.Diagnostic]]]] = {}
        self.messages: list[lsp.ShowMessageParams] = []

    async def published(
        self, uri: str, version: int, timeout: float = 10.0
    ) -> list[lsp.Diagnostic]:
        """The diagnostics published for ``version`` of ``uri`` (waits for them)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            for v, diags in self.diagnostics.get(uri, []):
                if v == version:
                    return diags
            await asyncio.sleep(0.01)
        raise AssertionError(f"no diagnostics for {uri} version {version}: {self.diagnostics}")


def run_session(
    scenario: Callable[[Session], Awaitable[None]],
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Session:
    async def go() -> Session:
        client = LanguageClient("test-client", "1")
        session = Session(client)

        @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
            session.diagnostics.setdefault(params.uri, []).append(
                (params.version, params.diagnostics)
            )

        @client.feature(lsp.WINDOW_SHOW_MESSAGE)
        def on_message(params: lsp.ShowMessageParams) -> None:
            session.messages.append(params)

        base = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
        path = os.pathsep.join(
            p
            for p in [
                *(env or {}).get("PYTHONPATH", "").split(os.pathsep),
                str(ROOT),
                str(ROOT / "plugins"),
                os.environ.get("PYTHONPATH", ""),
            ]
            if p
        )
        await client.start_io(
            sys.executable,
            "-m",
            "netdsl.tools.cli",
            *args,
            "lsp",
            env={**base, **(env or {}), "PYTHONPATH": path},
            cwd=str(ROOT),
        )
        try:
            await asyncio.wait_for(
                client.initialize_async(
                    lsp.InitializeParams(
                        capabilities=lsp.ClientCapabilities(), process_id=os.getpid()
                    )
                ),
                30,
            )
            client.initialized(lsp.InitializedParams())
            await asyncio.wait_for(scenario(session), 30)
            await asyncio.wait_for(client.shutdown_async(None), 10)
            client.exit(None)
        finally:
            server = getattr(client, "_server", None)
            if server is not None and server.returncode is None:
                try:
                    await asyncio.wait_for(server.wait(), 5)
                except asyncio.TimeoutError:
                    server.kill()  # a failed scenario never said exit
            await client.stop()
        return session

    return asyncio.run(go())


def open_doc(session: Session, text: str, uri: str = URI) -> None:
    session.client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(uri=uri, language_id="netdsl", version=1, text=text)
        )
    )


def change(
    session: Session, version: int, start: tuple[int, int], end: tuple[int, int], text: str
) -> None:
    session.client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=version, uri=URI),
            [
                lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(lsp.Position(*start), lsp.Position(*end)), text=text
                )
            ],
        )
    )


def doc() -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(URI)


def labels(result: Any) -> list[str]:
    items = result.items if isinstance(result, lsp.CompletionList) else result
    return [i.label for i in items]


# --- end to end ---------------------------------------------------------------------------------


def test_diagnostics_follow_the_edits_and_every_feature_answers() -> None:
    results: dict[str, Any] = {}

    async def scenario(s: Session) -> None:
        c = s.client
        open_doc(s, BAD)
        results["open"] = await s.published(URI, 1)
        # fix `relu6x` by typing: delete the `x` (an incremental change)
        change(s, 2, (1, 14), (1, 15), "")
        results["fixed one"] = await s.published(URI, 2)
        results["actions"] = await c.text_document_code_action_async(
            lsp.CodeActionParams(
                doc(),
                lsp.Range(lsp.Position(0, 0), lsp.Position(0, 6)),
                lsp.CodeActionContext(diagnostics=results["fixed one"]),
            )
        )
        change(s, 3, (0, 0), (0, 6), "epochs")
        results["clean"] = await s.published(URI, 3)
        # a syntax error and a semantic error cannot both be seen: two syntax errors are
        change(s, 4, (2, 0), (2, 0), "dense 3 ,\nconv2d 3 )\n")
        results["syntax"] = await s.published(URI, 4)
        change(
            s,
            5,
            (0, 0),
            (4, 0),
            "block tower(f) = conv2d f 3 relu same\n"
            "input: 28x28x1\n"
            "tower(8) ->  flatten -> dense 10 softmax\n",
        )
        results["blocks"] = await s.published(URI, 5)
        results["completion"] = await c.text_document_completion_async(
            lsp.CompletionParams(doc(), lsp.Position(2, 12))
        )
        results["completion args"] = await c.text_document_completion_async(
            lsp.CompletionParams(doc(), lsp.Position(0, 37))
        )
        results["hover"] = await c.text_document_hover_async(
            lsp.HoverParams(doc(), lsp.Position(0, 19))
        )
        results["hover relu"] = await c.text_document_hover_async(
            lsp.HoverParams(doc(), lsp.Position(0, 29))
        )
        results["definition"] = await c.text_document_definition_async(
            lsp.DefinitionParams(doc(), lsp.Position(2, 2))
        )
        results["symbols"] = await c.text_document_document_symbol_async(
            lsp.DocumentSymbolParams(doc())
        )
        results["format"] = await c.text_document_formatting_async(
            lsp.DocumentFormattingParams(
                doc(), lsp.FormattingOptions(tab_size=4, insert_spaces=True)
            )
        )

    run_session(scenario)

    opened = results["open"]
    assert [
        (d.code, d.range.start.line, d.range.start.character, d.range.end.character) for d in opened
    ] == [("NDL004", 0, 0, 6), ("NDL003", 1, 9, 15)]
    assert opened[1].message.startswith("unknown name `relu6x` for `dense`")
    assert "help: did you mean `relu6`?" in opened[1].message
    assert all(d.source == "netdsl" for d in opened)
    assert [d.code for d in results["fixed one"]] == ["NDL004"]

    [action] = results["actions"]
    assert action.kind == lsp.CodeActionKind.QuickFix
    [edit] = action.edit.changes[URI]
    assert edit.new_text == "epochs" and edit.range == lsp.Range(
        lsp.Position(0, 0), lsp.Position(0, 6)
    )

    assert list(results["clean"]) == []
    assert [d.code for d in results["syntax"]] == ["NDL001", "NDL001"]
    assert [d.range.start.line for d in results["syntax"]] == [2, 3]
    assert list(results["blocks"]) == []

    after_arrow = labels(results["completion"])
    assert {"tower", "dense", "conv2d", "flatten"} <= set(after_arrow)
    assert "relu" not in after_arrow
    conv_args = labels(results["completion args"])  # after `conv2d f 3 relu same `
    assert {"strides=", "use_bias="} <= set(conv_args) and "padding=" in conv_args
    assert "softmax" in conv_args  # the names its positional parameters take

    hover = results["hover"].contents.value
    assert (
        "**conv2d** (layer)" in hover and "(None, 28, 28, 8)" in hover and "80 parameters" in hover
    )
    assert "filters=8" in hover
    # what the layer is in this program comes before the parameter reference (the top of a window)
    assert hover.index("80 parameters") < hover.index("- `filters`")
    # help text is Markdown-escaped outside code spans (`kernel_size` in prose is no emphasis)
    assert "filters kernel\\_size windows" in hover and "- `kernel_size`" in hover
    assert "**relu** (activation)" in results["hover relu"].contents.value

    definition = results["definition"]
    assert definition.uri == URI and definition.range.start == lsp.Position(0, 6)
    assert [sym.name for sym in results["symbols"]] == ["input", "tower(f)", "network"]
    [fmt] = results["format"]
    assert fmt.new_text == (
        "input: 28x28x1\n\nblock tower(f) = conv2d f 3 relu same\n\n"
        "tower(8) -> flatten -> dense 10 softmax\n"
    )


def test_related_information_points_at_the_notes() -> None:
    text = "epochs: 3\nepochs: 4\ndense 10 softmax\n"

    async def scenario(s: Session) -> None:
        open_doc(s, text)
        await s.published(URI, 1)

    s = run_session(scenario)
    [(_, [diag])] = s.diagnostics[URI]
    assert diag.code == "NDL004" and diag.range.start.line == 1
    [info] = diag.related_information or []
    assert info.message == "first set here" and info.location.range.start.line == 0


def test_bad_input_never_kills_the_server() -> None:
    garbage = ["\x00\x01(((([[[[", "dense " * 3000, "(" * 400 + "dense 1" + ")" * 400, "\udcff", ""]

    async def scenario(s: Session) -> None:
        c = s.client
        open_doc(s, "dense 10 softmax\n")
        await s.published(URI, 1)
        for i, text in enumerate(garbage, start=2):
            s.client.text_document_did_change(
                lsp.DidChangeTextDocumentParams(
                    lsp.VersionedTextDocumentIdentifier(version=i, uri=URI),
                    [lsp.TextDocumentContentChangeWholeDocument(text)],
                )
            )
            diags = await s.published(URI, i)
            assert all(d.source == "netdsl" for d in diags)
            for line, col in ((0, 0), (0, 3), (5, 99)):
                pos = lsp.Position(line, col)
                await c.text_document_completion_async(lsp.CompletionParams(doc(), pos))
                await c.text_document_hover_async(lsp.HoverParams(doc(), pos))
                await c.text_document_definition_async(lsp.DefinitionParams(doc(), pos))
            await c.text_document_formatting_async(
                lsp.DocumentFormattingParams(
                    doc(), lsp.FormattingOptions(tab_size=4, insert_spaces=True)
                )
            )
        # still alive and correct
        s.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(version=99, uri=URI),
                [lsp.TextDocumentContentChangeWholeDocument(GOOD)],
            )
        )
        assert list(await s.published(URI, 99)) == []

    run_session(scenario)


PLUGIN = """\
from netdsl.vocab.components import Layer
from netdsl.vocab.hookspecs import hookimpl

@hookimpl
def register_layers(register):
    register(Layer(name="twice", description="doubles its input", infer=lambda s, a: (s, 0),
                   build=lambda **kw: None))
"""


def _fake_dist(root: Path, dist: str, source: str) -> None:
    module = dist.replace("-", "_") + "_plugin"
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[netdsl]\n{dist} = {module}\n")
    (root / f"{module}.py").write_text(source)


def test_third_party_names_appear_and_a_broken_plugin_is_one_warning(tmp_path: Path) -> None:
    _fake_dist(tmp_path, "good-dist", PLUGIN)
    _fake_dist(tmp_path, "bad-dist", "raise RuntimeError('boom at import')\n")
    results: dict[str, Any] = {}

    async def scenario(s: Session) -> None:
        open_doc(s, "twice -> dense 10 softmax\n")
        results["diags"] = await s.published(URI, 1)
        open_doc(s, "dense 10 softmax\n", uri="file:///tmp/other.net")
        await s.published("file:///tmp/other.net", 1)
        results["completion"] = await s.client.text_document_completion_async(
            lsp.CompletionParams(doc(), lsp.Position(0, 9))
        )
        results["hover"] = await s.client.text_document_hover_async(
            lsp.HoverParams(doc(), lsp.Position(0, 1))
        )

    s = run_session(scenario, env={"PYTHONPATH": str(tmp_path)})
    assert list(results["diags"]) == []
    assert "twice" in labels(results["completion"])
    assert "doubles its input" in results["hover"].contents.value
    warnings = [m for m in s.messages if m.type == lsp.MessageType.Warning]
    assert (
        len(warnings) == 1
        and "bad-dist" in warnings[0].message
        and "boom at import" in warnings[0].message
    )

    # --no-plugins: the plugin's name is unknown, as for `netdsl --no-plugins check`
    async def plain(s: Session) -> None:
        open_doc(s, "twice -> dense 10 softmax\n")
        results["plain"] = await s.published(URI, 1)

    s = run_session(plain, env={"PYTHONPATH": str(tmp_path)}, args=("--no-plugins",))
    assert [d.code for d in results["plain"]] == ["NDL003"] and s.messages == []


# --- in process: completion contexts, positions -------------------------------------------------


def complete(registry: Registry, text: str) -> list[str]:
    """Completion labels at the ``¦`` in ``text``."""
    at = text.index("¦")
    text = text.replace("¦", "")
    a = analyze(URI, text, registry)
    return [i.label for i in a.completion(a.pos.position(at))]


@pytest.mark.parametrize(
    "text, has, lacks",
    [
        ("¦", {"epochs:", "optimizer:", "block", "dense", "conv2d"}, {"relu", "units="}),
        ("epochs: 3\n¦", {"loss:", "dense"}, {"relu"}),
        ("dense 64 relu -> ¦", {"dense", "dropout"}, {"relu", "epochs:"}),
        ("dense 64 relu\n  -> ¦", {"dense"}, {"epochs:"}),
        ("dense 64 ¦", {"units=", "activation=", "relu", "l2"}, {"dense", "same"}),
        ("dense units=64 activation=¦", {"relu", "softmax"}, {"l2", "units="}),
        ("dense 64 units=3 ¦", {"activation="}, {"units="}),
        ("conv2d 32 3 ¦", {"padding=", "same", "valid", "relu"}, {"units="}),
        ("conv2d 32 3 padding=¦", {"same", "valid"}, {"relu"}),
        ("optimizer: ¦", {"adam", "sgd"}, {"dense", "relu"}),
        ("optimizer: adam(¦", {"learning_rate="}, {"adam"}),
        ("loss: ¦", {"categorical_crossentropy"}, {"adam"}),
        ("metrics: [accuracy, ¦", {"accuracy"}, {"adam"}),
        ("dataset: ¦", {"mnist"}, {"adam"}),
        ("block b(f) = dense f -> ¦", {"dense", "b"}, {"relu"}),
        ("block b(f) = dense f\nb(3) -> ¦", {"b", "dense"}, set()),
        ("residual(¦", {"conv2d"}, {"relu"}),
        ("[dense 3 ¦ dense 4] concat", {"units=", "relu"}, {"concat"}),
        ("[dense 3 | dense 4] ¦", {"concat", "add"}, {"dense", "relu"}),
        ("dense 64 l2(¦", {"l2="}, {"dense"}),
        ("dense 64 relu # a comment -> x\n¦", {"epochs:"}, set()),
    ],
)
def test_completion_in_context(
    registry: Registry, text: str, has: set[str], lacks: set[str]
) -> None:
    got = set(complete(registry, text.replace("¦", "¦", 1)))
    assert has <= got, has - got
    assert not (lacks & got), lacks & got


def test_completion_items_carry_help(registry: Registry) -> None:
    a = analyze(URI, "dense 64 ", registry)
    items = {i.label: i for i in a.completion(lsp.Position(0, 9))}
    assert items["units="].documentation and items["units="].insert_text == "units="
    assert "activation" in (items["relu"].detail or "")


def test_positions_count_utf16_units() -> None:
    text = "# é 😀 x\ndense 1"
    p = Positions(text)
    assert p.position(text.index("x")) == lsp.Position(0, 7)  # the emoji is two UTF-16 units
    assert p.offset(lsp.Position(0, 7)) == text.index("x")
    assert p.position(len(text)) == lsp.Position(1, 7)
    assert Positions(text, "utf-32").position(text.index("x")) == lsp.Position(0, 6)


def test_every_example_is_clean_and_has_symbols(registry: Registry) -> None:
    for path in sorted(EXAMPLES.glob("*.net")):
        a = analyze(path.as_uri(), path.read_text(), registry)
        assert a.diagnostics() == [], path
        last = a.program.network is None and a.program.bindings[-1].name
        assert a.symbols()[-1].name == (last or "network")
        assert a.formatting() is not None


def test_a_plugin_crash_while_checking_is_a_diagnostic(registry: Registry) -> None:
    import copy

    from netdsl.vocab.components import Layer
    from netdsl.vocab.registry import Provider

    reg = copy.deepcopy(registry)

    def boom(shape: Any, args: Any) -> Any:
        raise ZeroDivisionError("plugin bug")

    reg.add(Layer(name="boom", infer=boom), Provider("x", "1", "x"))
    [diag] = analyze(URI, "boom -> dense 10 softmax", reg).diagnostics()
    assert "ZeroDivisionError: plugin bug" in diag.message


@pytest.mark.parametrize(
    "raised", [SystemExit(2), KeyboardInterrupt()], ids=["SystemExit", "KeyboardInterrupt"]
)
def test_a_plugins_base_exception_outside_its_declaration_is_a_diagnostic(
    registry: Registry, raised: BaseException
) -> None:
    """What the declaration guard cannot wrap (a plugin's own parameter type, called by the
    binder) still never stops the server; the user's real Ctrl-C is told apart by the CLI's
    SIGINT watch, active here as it is in `netdsl lsp`."""
    import copy

    from netdsl.vocab import types as T
    from netdsl.vocab.components import Layer, Param
    from netdsl.vocab.isolation import watch_interrupts
    from netdsl.vocab.registry import Provider

    class Odd(T.ParamType):
        label = "an odd value"
        forms = (int,)

        def takes(self, value: Any) -> bool:
            raise raised

    reg = copy.deepcopy(registry)
    reg.add(
        Layer(
            name="odd",
            infer=lambda s, a: (s, 0),
            build=lambda **kw: None,
            params=(Param("n", Odd(), 1, positional=True),),
        ),
        Provider("odd-dist", "1", "odd"),
    )
    with watch_interrupts():
        [diag] = analyze(URI, "odd 3 -> dense 10 softmax", reg).diagnostics()
    assert type(raised).__name__ in diag.message and "could not finish checking" in diag.message


def test_cli_says_how_to_install_pygls_when_missing(tmp_path: Path) -> None:
    """Without pygls, ``netdsl lsp`` names the extra to install."""
    (tmp_path / "pygls").mkdir()
    (tmp_path / "pygls" / "__init__.py").write_text(
        "raise ImportError('no pygls here', name='pygls')\n"
    )
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT), str(ROOT / "plugins")])
    proc = subprocess.run(
        [sys.executable, "-m", "netdsl.tools.cli", "lsp"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert "pip install 'netdsl[lsp]'" in proc.stderr


# --- the protocol itself, spoken raw (issue 27) -------------------------------------------------


class RawServer:
    """``netdsl lsp`` as a subprocess spoken to in raw bytes: what a hostile or broken client
    sends is sent as it is; what the server writes is read back as framed JSON messages."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        import queue
        import subprocess
        import threading

        base = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
        path = os.pathsep.join(
            p
            for p in [
                *(env or {}).get("PYTHONPATH", "").split(os.pathsep),
                str(ROOT),
                str(ROOT / "plugins"),
                os.environ.get("PYTHONPATH", ""),
            ]
            if p
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netdsl.tools.cli", "lsp"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**base, **(env or {}), "PYTHONPATH": path},
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []  # read, not yet waited for
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        import json

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
            assert length is not None
            self.messages.put(json.loads(out.read(length)))

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, method: str, params: Any = None, id: int | None = None) -> None:
        import json

        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if id is not None:
            message["id"] = id
        body = json.dumps(message).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        import queue
        import time

        for message in self.seen:  # what came before, in order
            if match(message):
                self.seen.remove(message)
                return message
        end = time.monotonic() + timeout
        while True:
            try:
                message = self.messages.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such message within {timeout} s: {self.seen}") from None
            if match(message):
                return message
            self.seen.append(message)

    def start(self) -> None:
        self.send("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, id=1)
        self.wait(lambda m: m.get("id") == 1)
        self.send("initialized", {})

    def open(self, text: str, uri: str = URI) -> list[dict[str, Any]]:
        """Open a document; the diagnostics published for it."""
        self.send(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "netdsl", "version": 1, "text": text}},
        )
        return self.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
            )
        )["params"]["diagnostics"]

    def stop(self) -> tuple[int, str]:
        """Shut down and exit as a client does: the exit status and what went to stderr."""
        try:
            self.send("shutdown", None, id=999)
            self.wait(lambda m: m.get("id") == 999)
            self.send("exit")
            code = self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read().decode(errors="replace")


#: id -> raw bytes a client sends before an ordinary message; what the server must log
HOSTILE_FRAMES = {
    "Content-Length 10**12": (b"Content-Length: 1000000000000\r\n\r\n", "1,000,000,000,000 bytes"),
    "Content-Length 10**20": (b"Content-Length: 100000000000000000000\r\n\r\n", "over the limit"),
    "Content-Length of 5,000 digits": (
        b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n",
        "over the limit",
    ),
    "a header line of 1 MB": (b"X-Junk: " + b"a" * (1 << 20) + b"\r\n", "header line over"),
}


@pytest.mark.parametrize("case", list(HOSTILE_FRAMES))
def test_an_over_limit_message_is_skipped_and_the_server_keeps_serving(case: str) -> None:
    """Issue 27: ``Content-Length: 1000000000000`` killed the server (MemoryError; 10**20: an
    OverflowError in pygls's reader). Now the message is logged, skipped, and the next served."""
    raw, logged = HOSTILE_FRAMES[case]
    server = RawServer()
    try:
        server.start()
        server.send_raw(raw)
        diags = server.open("epochz: 3\ndense 10 softmax\n")
        assert [d["code"] for d in diags] == ["NDL004"]  # unknown setting `epochz`
        refused = server.wait(lambda m: m.get("method") == "window/logMessage")
        assert "netdsl:" in refused["params"]["message"]
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr
    assert logged in stderr and "MemoryError" not in stderr and "Traceback" not in stderr


def test_a_lying_length_does_not_swallow_the_next_message() -> None:
    """A body shorter than declared but under the limit is read whole (the protocol's own
    contract); a message over the limit is dropped up to the next header at most."""
    server = RawServer()
    try:
        server.start()
        server.send_raw(b'Content-Length: 99999999999\r\n\r\n{"partial": ')
        assert server.open("dense 10 softmax\n") == []
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr


INTERRUPTING = """\
from netdsl.vocab.components import Layer
from netdsl.vocab.hookspecs import hookimpl


def infer(shape, args):
    raise KeyboardInterrupt


@hookimpl
def register_layers(register):
    register(Layer(name="boom", infer=infer, build=lambda **kw: None))
"""


def test_a_plugin_raising_keyboard_interrupt_is_a_diagnostic_not_a_dead_server(
    tmp_path: Path,
) -> None:
    """Issue 27: a shape rule raising KeyboardInterrupt killed the server on didOpen."""
    _fake_dist(tmp_path, "bad-dist", INTERRUPTING)
    server = RawServer(env={"PYTHONPATH": str(tmp_path)})
    try:
        server.start()
        [diag] = server.open("boom -> dense 10 softmax\n")
        assert diag["code"] == "NDL206"
        for fragment in ("`boom`", "bad-dist 1.0", "KeyboardInterrupt", "not by Ctrl-C"):
            assert fragment in diag["message"], diag["message"]
        assert server.open("dense 10 softmax\n", uri="file:///tmp/after.net") == []  # still serving
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr


@pytest.mark.slow  # ~10 s: the document must take a while to check
def test_a_burst_of_edits_to_a_slow_document_is_checked_once_not_once_each() -> None:
    """Issue 27: on a program that takes seconds to check, every keystroke queued a check of
    its own (minutes of backlog). A slow document is re-checked when the edits pause."""
    steps = "dense 8 relu -> " * 6000
    server = RawServer()
    try:
        server.start()
        server.open(steps + "dense 10 softmax\n")
        for version in range(2, 12):
            server.send(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": URI, "version": version},
                    "contentChanges": [
                        {"text": steps + f"dense {version} relu -> dense 10 softmax\n"}
                    ],
                },
            )
        last = server.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["version"] == 11
            ),
            timeout=120,
        )
        assert last["params"]["diagnostics"] == []
        published = [
            m["params"]["version"]
            for m in server.seen
            if m.get("method") == "textDocument/publishDiagnostics"
        ]
        assert len(published) <= 2, published  # was one per version: 2, 3, ..., 10
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr


@pytest.mark.parametrize("lines", [9_000_000, 11_000_000], ids=["9 MB", "11 MB (refused)"])
def test_a_document_of_millions_of_lines_is_analysed_in_bounded_memory(
    registry: Registry, lines: int
) -> None:
    """A table of every line start was built first (11 MB of line breaks: 16 s and 485 MB to
    say "too large"); positions are now counted until many are asked for."""
    import time
    import tracemalloc

    text = "\n" * lines + "dense 10 softmax\n"
    tracemalloc.start()
    start = time.perf_counter()
    try:
        codes = [d.code for d in analyze(URI, text, registry).diagnostics()]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert codes == ([] if lines < 10_000_000 else ["NDL012"])
    assert peak < 100_000_000 and time.perf_counter() - start < 10


def test_a_file_documents_dataset_path_resolves_against_its_folder(
    tmp_path: Path, registry: Registry
) -> None:
    """`csv("t.csv")` in file:///…/m.net reads …/t.csv, whatever the server's own folder."""
    (tmp_path / "t.csv").write_text(
        "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))
    )
    text = 'dataset: csv("t.csv", label="y")\ndense 4 relu -> dense 1 sigmoid\n'
    a = analyze((tmp_path / "m.net").as_uri(), text, registry)
    assert a.diagnostics() == []
    [missing] = analyze((tmp_path / "sub" / "m.net").as_uri(), text, registry).diagnostics()
    assert str(tmp_path / "sub" / "t.csv") in missing.message


def test_graph_names_hover_with_their_shape_and_go_to_their_definition(
    registry: Registry,
) -> None:
    text = (EXAMPLES / "multitask.net").read_text()
    a = analyze(URI, text, registry)
    line = next(i for i, t in enumerate(text.splitlines()) if t.startswith("output digit"))
    hover = a.hover(lsp.Position(line, 16))  # on `trunk`
    assert hover is not None and "**trunk** (tensor): (None, 64)" in hover.contents.value
    target = a.definition(lsp.Position(line, 16))
    defined = next(i for i, t in enumerate(text.splitlines()) if t.startswith("trunk ="))
    assert target is not None and target.range.start.line == defined
    hover = a.hover(lsp.Position(line, 8))  # on `digit`
    assert hover is not None and "(output): (None, 10)" in hover.contents.value
