"""Running ``netdsl serve``: the run folder's model loaded once (through ``netdsl predict``'s
loader, so the same checks apply), the listening socket, and uvicorn with the limits that keep
hostile clients harmless. SIGTERM (or Ctrl-C) stops accepting connections, lets the requests in
flight finish (at most ``drain_timeout`` seconds) and returns normally.

uvicorn closes idle keep-alive connections but never a connection that sends its request
headers slowly or not at all; :func:`guarded_protocol` adds that timeout (``header_timeout``).
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ServeError
from .service import Limits, Service
from .signature import InputSpec, Signature

if TYPE_CHECKING:  # pragma: no cover
    from ...vocab.registry import Registry

__all__ = ["ServeOptions", "load_service", "require_web", "serve"]

#: the modules the ``web`` extra installs, with the package that brings each
WEB_MODULES = {"starlette": "starlette", "uvicorn": "uvicorn", "multipart": "python-multipart"}

#: hosts that are this machine only (any other host gets a warning)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeOptions:
    """Where to listen and what a client may cost (see :class:`~.app.Limits` for a request's)."""

    host: str = "127.0.0.1"
    port: int = 8000
    name: str | None = None
    limits: Limits = field(default_factory=Limits)
    #: seconds a connection may take to send a request's headers (slowloris)
    header_timeout: float = 10.0
    #: seconds an idle keep-alive connection stays open
    keep_alive: int = 5
    #: open connections (and requests) past which new requests get 503
    max_connections: int = 1024
    #: seconds SIGTERM waits for requests in flight before cancelling them
    drain_timeout: int = 30
    access_log: bool = False


def require_web() -> None:
    """An error naming the install command when the ``web`` extra is missing (checked before
    TensorFlow loads)."""
    missing = [pkg for mod, pkg in WEB_MODULES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise ServeError(
            f"`netdsl serve` needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed",
            code="NDL430",
            help="pip install 'netdsl[web]'",
        )


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: a free one), or an error saying why not.
    It listens at once, so that a client who connects once the address is printed waits in the
    backlog until uvicorn accepts (a bound socket that is not listening refuses)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so that asyncio sets TCP_NODELAY on every accepted connection (it
    # checks the protocol): with Nagle's algorithm on, a response's body waited for the ACK of
    # its headers, 40 ms of the client's delayed ACK on every request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except (OSError, OverflowError) as exc:
        sock.close()
        raise ServeError(
            f"cannot listen on {host}:{port} ({exc})",
            code="NDL431",
            help="choose another --port (0 picks a free one), or a --host of this machine",
        ) from None
    return sock


def load_service(
    folder: str | Path, limits: Limits, name: str | None = None, registry: Registry | None = None
) -> Service:
    """The run folder's model, checked and loaded once, warmed up on the batch sizes it will
    see, with the signature ``GET /`` shows."""
    from ..._version import __version__
    from ...keras.predict import load_predictor
    from .signature import model_name, signature_of

    predictor = load_predictor(folder, registry)
    sig = signature_of(predictor.model, predictor.class_names, name or model_name(folder))
    net = predictor.net
    to_model = _model_input(sig)

    def run(inputs: dict[str, np.ndarray]) -> Any:
        """One model call on a batch: ``predict_on_batch``, which skips ``predict``'s
        per-call data pipeline (measured 0.6 ms in place of 60 ms for a 784-128-10 MLP).
        A graph's outputs come back as one ``{output: row}`` per instance."""
        y = net.predict_on_batch(to_model(inputs))
        if not sig.graph:
            return _finite(np.asarray(y))
        outs = {o.name: _finite(np.asarray(y[o.name])) for o in sig.outputs}
        return [{k: v[i] for k, v in outs.items()} for i in range(len(next(iter(inputs.values()))))]

    def explain(row: Any, top: int) -> dict[str, Any]:
        """One instance's reading, as ``netdsl predict`` gives it (a graph's by output)."""
        if not sig.graph:
            return predictor.explain(row, top)
        return {
            "outputs": {
                o.name: predictor._read_out(
                    np.asarray(row[o.name], np.float64), o.kind, top, o.from_logits, o.classes
                )
                for o in sig.outputs
            }
        }

    for n in sorted({1, limits.max_batch}):
        run({spec.name: _blank(spec, n) for spec in sig.inputs})
    about = {"run": str(Path(folder).resolve()), "netdsl": __version__}
    return Service(sig, run, explain, limits, about)


def _finite(y: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(y)):
        raise FloatingPointError("the model's output holds NaN or infinite values")
    return y


def _blank(spec: InputSpec, n: int) -> np.ndarray:
    """A batch of ``n`` zero (or empty-string) values of one input, to warm the model up."""
    if spec.dtype == "string":
        return np.full((n, *spec.shape), "", dtype=object)
    return np.zeros((n, *spec.shape), spec.dtype)


def _model_input(sig: Signature) -> Callable[[dict[str, np.ndarray]], Any]:
    """How a batch (one array per input) is handed to the model: the sole input's array for a
    chain's model, the dict for a graph's, and for a table the dict with each string column
    as a ``tf.string`` tensor (Keras takes no arrays of Python strings)."""
    if sig.table:
        import tensorflow as tf

        strings = {spec.name for spec in sig.inputs if spec.dtype == "string"}

        def table(inputs: dict[str, np.ndarray]) -> Any:
            return {
                k: tf.constant(v.tolist(), tf.string) if k in strings else v
                for k, v in inputs.items()
            }

        return table
    if sig.graph:
        return dict
    sole = sig.inputs[0].name
    return lambda inputs: inputs[sole]


def guarded_protocol(header_timeout: float) -> type[Any]:
    """uvicorn's h11 protocol, closing a connection whose next request's headers have not all
    arrived ``header_timeout`` seconds after it opened or after its last response."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _timer: Any = None
        _armed_for: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not self._armed_for:  # a new request's headers came in
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.cycle is None or self.cycle.response_complete:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._armed_for = self.cycle
            self._timer = self.loop.call_later(header_timeout, self._expired)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expired(self) -> None:
            self._timer = None
            idle = self.cycle is None or self.cycle.response_complete
            if self.cycle is self._armed_for and idle and not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol


def _server(app: Any, options: ServeOptions, on_drain: Callable[[], None]) -> Any:
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn's server, telling the app when the drain starts (``/health`` says so)."""

        async def shutdown(self, sockets: Any = None) -> None:
            on_drain()
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        http=guarded_protocol(options.header_timeout),
        lifespan="on",
        log_level="info" if options.access_log else "warning",  # uvicorn logs access at info
        access_log=options.access_log,
        limit_concurrency=options.max_connections,
        timeout_keep_alive=options.keep_alive,
        timeout_graceful_shutdown=options.drain_timeout,
        h11_max_incomplete_event_size=64 << 10,
        server_header=False,
    )
    return DrainingServer(config)


def serve(
    folder: str | Path,
    options: ServeOptions,
    registry: Registry | None = None,
    echo: Callable[[str], None] = print,
) -> str | None:
    """Serve the run folder's model until SIGTERM or Ctrl-C; returns the signal's name that
    stopped it (None when the server stopped by itself)."""
    require_web()
    from .app import create_app

    sock = listen(options.host, options.port)
    try:
        service = load_service(folder, options.limits, options.name, registry)
        app = create_app(service)
        server = _server(app, options, lambda: app.state.__setattr__("draining", True))
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        echo(f"serving {service.name} on http://{shown}:{port}/ (Ctrl-C or SIGTERM stops it)")
        echo(f"  POST /predict, POST /v1/models/{service.name}:predict, GET / describes the model")
        sys.stdout.flush()
        with _signals_recorded() as got:
            server.run(sockets=[sock])
    finally:
        sock.close()
    return got[-1] if got else None


class _signals_recorded:
    """Records SIGINT and SIGTERM in place of their default actions, so that uvicorn's raising
    them again after its graceful shutdown ends the command normally."""

    def __enter__(self) -> list[str]:
        self.got: list[str] = []
        self.saved = {
            sig: signal.signal(sig, lambda s, f: self.got.append(signal.Signals(s).name))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        return self.got

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
