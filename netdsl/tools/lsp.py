"""``netdsl lsp``: the language server (stdio), on pygls.

Every change re-parses and re-checks the document (a few milliseconds, pure Python) and
publishes the same diagnostics ``netdsl check`` prints. Completion, hover, go to definition,
document symbols, formatting and quick fixes read the last :class:`~netdsl.tools.lsp_features.Analysis`.
Plugins load as the CLI loads them; a broken one is shown once as a warning.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
import time
from collections.abc import Callable
from threading import Event
from typing import Any, BinaryIO

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from .._version import __version__
from ..errors import NetdslError
from ..lang import ir
from ..vocab.registry import Registry, load_registry
from .lsp_features import Analysis, RenameRefused, analyze
from .lsp_transport import Framer

__all__ = ["NetdslLanguageServer", "create_server", "main"]

log = logging.getLogger(__name__)

#: a document whose last check took longer than this is re-checked when the edits pause ...
SLOW_CHECK_SECONDS = 0.25
#: ... for this long (one check per burst of keystrokes instead of one per keystroke)
SETTLE_SECONDS = 0.3


class NetdslLanguageServer(LanguageServer):
    """The server: the registry (loaded on first use) and the last analysis of each document."""

    def __init__(
        self,
        *,
        third_party: bool = True,
        strict: bool | None = None,
        registry: Registry | None = None,
    ) -> None:
        super().__init__(
            "netdsl", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental
        )
        self.third_party = third_party
        self.strict = strict
        self._registry = registry
        self.analyses: dict[str, Analysis] = {}
        self.seconds: dict[str, float] = {}  # how long each document's last check took
        self._timers: dict[str, asyncio.TimerHandle] = {}  # re-checks waiting for a pause
        self.pending: list[str] = []  # plugin warnings not yet shown
        self._shown: set[str] = set()

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            problems: list[NetdslError] = []
            try:
                self._registry = load_registry(
                    third_party=self.third_party, strict=self.strict, on_problem=problems.append
                )
            except NetdslError as e:  # strict: say so, and carry on with what loads
                problems.append(e)
                self._registry = load_registry(
                    third_party=self.third_party, strict=False, on_problem=problems.append
                )
            self.pending += [p.message for p in problems]
        return self._registry

    def warn_once(self) -> None:
        """Show each plugin problem once (the server keeps running without that plugin)."""
        while self.pending:
            message = self.pending.pop(0)
            if message in self._shown:
                continue
            self._shown.add(message)
            try:
                self.window_show_message(
                    lsp.ShowMessageParams(lsp.MessageType.Warning, f"netdsl: {message}")
                )
            except Exception:  # noqa: BLE001 - no client attached (tests, benchmarks)
                log.warning("netdsl: %s", message)

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve on standard input and output, reading through :class:`Framer` (bounded
        messages; pygls's own reader allocates whatever a header declares)."""
        from pygls.io_ import StdoutWriter

        self._stop_event = Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        framer = Framer(stdin or sys.stdin.buffer)
        try:
            asyncio.run(self._serve(framer))
        except BrokenPipeError:
            log.error("netdsl lsp: the connection to the client is lost")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it untyped

    async def _serve(self, framer: Framer) -> None:
        """Read a message at a time (in a worker thread) and hand it to pygls's protocol."""
        loop = asyncio.get_running_loop()
        assert self._stop_event is not None

        def refused(what: str) -> None:  # from the reading thread: told on the loop's
            loop.call_soon_threadsafe(self._refused, what)

        framer.on_refused = refused
        while not self._stop_event.is_set():
            body = await loop.run_in_executor(self.thread_pool, framer.next_message)
            if body is None:
                break
            try:
                message = json.loads(body, object_hook=self.protocol.structure_message)
                self.protocol.handle_message(message)
            except Exception:
                log.exception("netdsl lsp: a message could not be handled")

    def _refused(self, what: str) -> None:
        """Tell the client (its log) that a message was dropped: what it sent was not read."""
        try:
            self.window_log_message(lsp.LogMessageParams(lsp.MessageType.Error, f"netdsl: {what}"))
        except Exception:  # noqa: BLE001 - no writer yet
            pass

    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding or "utf-16")
        except Exception:  # noqa: BLE001 - before initialize
            return "utf-16"

    def refresh(self, uri: str, *, reuse: bool = False) -> Analysis:
        """Parse and check the document now (``reuse``: unless its last analysis is of this very
        text, made for a request meanwhile); publish its diagnostics."""
        doc = self.workspace.get_text_document(uri)
        result = self.analyses.get(uri)
        if not reuse or result is None or result.text != doc.source:
            start = time.perf_counter()
            result = analyze(
                uri,
                doc.source,
                self.registry,
                self.encoding(),
                self._previous(uri),
                self._inputs(uri),
            )
            self.seconds[uri] = time.perf_counter() - start
            self.analyses[uri] = result
        self.warn_once()
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(
                uri=uri, diagnostics=result.diagnostics(), version=doc.version
            )
        )
        return result

    def changed(self, uri: str) -> None:
        """After an edit: re-check at once a document that checks fast (the usual case: a few
        ms); one that took longer than :data:`SLOW_CHECK_SECONDS` once the edits pause for
        :data:`SETTLE_SECONDS`, so a burst of keystrokes costs one check, not one each
        (a 1 MB program of 61,000 layers takes seconds to check: it was minutes of backlog)."""
        pending = self._timers.pop(uri, None)
        if pending is not None:
            pending.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without an event loop (benchmarks): nothing to wait with
            loop = None
        if loop is None or self.seconds.get(uri, 0.0) <= SLOW_CHECK_SECONDS:
            self.refresh(uri)
            return
        self._timers[uri] = loop.call_later(SETTLE_SECONDS, self._settled, uri)

    def _settled(self, uri: str) -> None:
        self._timers.pop(uri, None)
        if uri not in self.analyses:  # closed meanwhile
            return
        try:
            self.refresh(uri, reuse=True)
        except Exception:  # like every handler: logged, the server goes on
            log.exception("netdsl lsp: re-checking %s failed", uri)

    def forget(self, uri: str) -> None:
        """A closed document: its analysis, timing and pending re-check go."""
        self.analyses.pop(uri, None)
        self.seconds.pop(uri, None)
        pending = self._timers.pop(uri, None)
        if pending is not None:
            pending.cancel()

    def _previous(self, uri: str) -> ir.Program | None:
        """The last program parsed from this document (None if it did not parse): the next
        parse re-parses only the edited step of it. One per open document, dropped at close."""
        last = self.analyses.get(uri)
        return last.program if last is not None else None

    def _inputs(self, uri: str) -> list[str]:
        """The data's input names the last analysis of this document knew (for completion
        while the text being typed does not check)."""
        last = self.analyses.get(uri)
        return last.input_names if last is not None else []

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document's current text (made now if there is none)."""
        doc = self.workspace.get_text_document(uri)
        current = self.analyses.get(uri)
        if current is None or current.text != doc.source:
            current = analyze(
                uri,
                doc.source,
                self.registry,
                self.encoding(),
                self._previous(uri),
                self._inputs(uri),
            )
            self.analyses[uri] = current
        return current


def _safe(default: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Bad input never crashes the server: a handler that raises logs and answers ``default``."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def handler(ls: NetdslLanguageServer, params: Any) -> Any:
            try:
                return fn(ls, params)
            except Exception:
                log.exception("netdsl lsp: %s failed", fn.__name__)
                return default

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        return handler

    return wrap


def create_server(
    *, third_party: bool = True, strict: bool | None = None, registry: Registry | None = None
) -> NetdslLanguageServer:
    """A server with every feature registered (not yet started)."""
    server = NetdslLanguageServer(third_party=third_party, strict=strict, registry=registry)

    @server.feature(lsp.INITIALIZED)
    @_safe(None)
    def initialized(ls: NetdslLanguageServer, params: lsp.InitializedParams) -> None:
        _ = ls.registry  # load plugins now; their warnings go out once
        ls.warn_once()
        # what is alive now (pygls, lsprotocol's converters, the plugins) lives as long as the
        # server: set it aside from the cyclic collector, whose full collections would otherwise
        # walk it all again every few keystrokes (tens of ms each; BENCHMARKS.md, "re-check latency")
        gc.collect()
        gc.freeze()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    @_safe(None)
    def did_open(ls: NetdslLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    @_safe(None)
    def did_change(ls: NetdslLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.changed(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    @_safe(None)
    def did_close(ls: NetdslLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)
        ls.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(params.text_document.uri, [])
        )

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION,
        lsp.CompletionOptions(trigger_characters=[" ", "=", "(", ",", ">", "|", "[", ":"]),
    )
    @_safe(None)
    def completion(ls: NetdslLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        items = ls.analysis(params.text_document.uri).completion(params.position)
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    @_safe(None)
    def hover(ls: NetdslLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        return ls.analysis(params.text_document.uri).hover(params.position)

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    @_safe(None)
    def definition(ls: NetdslLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        return ls.analysis(params.text_document.uri).definition(params.position)

    @server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
    @_safe(None)
    def prepare_rename(
        ls: NetdslLanguageServer, params: lsp.PrepareRenameParams
    ) -> lsp.Range | None:
        return ls.analysis(params.text_document.uri).prepare_rename(params.position)

    @server.feature(lsp.TEXT_DOCUMENT_RENAME)
    @_safe(None)
    def rename(ls: NetdslLanguageServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
        try:
            return ls.analysis(params.text_document.uri).rename(params.position, params.new_name)
        except RenameRefused as refused:  # told, not applied
            ls.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Warning, str(refused)))
            return None

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @_safe([])
    def symbols(
        ls: NetdslLanguageServer, params: lsp.DocumentSymbolParams
    ) -> list[lsp.DocumentSymbol]:
        return ls.analysis(params.text_document.uri).symbols()

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    @_safe(None)
    def formatting(
        ls: NetdslLanguageServer, params: lsp.DocumentFormattingParams
    ) -> list[lsp.TextEdit] | None:
        return ls.analysis(params.text_document.uri).formatting()

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
    )
    @_safe([])
    def code_action(ls: NetdslLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        return ls.analysis(params.text_document.uri).code_actions(
            params.range, params.context.diagnostics
        )

    return server


def main(*, third_party: bool = True, strict: bool | None = None) -> None:
    """Run the server on standard input and output until the client says exit."""
    from ..vocab.isolation import watch_interrupts

    with watch_interrupts():  # a plugin's own KeyboardInterrupt is then told apart from Ctrl-C
        create_server(third_party=third_party, strict=strict).start_io()
