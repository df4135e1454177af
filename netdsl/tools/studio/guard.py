"""What the studio lets a request touch: files inside its folder, hosts and origins it serves.

The studio runs programs and reads files, so a web page from anywhere else must not drive it:
a request whose ``Host`` is not one the server listens as (DNS rebinding) or whose ``Origin``
is another site (CSRF) is refused, and a state-changing request must be JSON (a plain HTML form
cannot send that across sites without the browser asking first).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path

from ...errors import StudioError

__all__ = ["Confined", "OriginGuard", "StudioError", "allowed_hosts"]

#: names a loopback server answers to, whatever it was bound as
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class Confined:
    """Paths relative to one folder; anything that resolves outside it (``..``, an absolute
    path, a symbolic link pointing out) is refused."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve(strict=True)

    def path(self, relative: str) -> Path:
        """The real path of ``relative`` inside the folder (it need not exist yet)."""
        if not relative or os.path.isabs(relative) or "\x00" in relative:
            raise self._outside(relative)
        real = (self.root / relative).resolve()
        if real != self.root and self.root not in real.parents:
            raise self._outside(relative)
        return real

    def shown(self, path: Path) -> str:
        """``path`` as the page shows it: relative to the folder, with ``/``."""
        return path.resolve().relative_to(self.root).as_posix()

    def _outside(self, relative: str) -> StudioError:
        return StudioError(
            f"{relative!r} is not inside the studio's folder {self.root}",
            code="NDL410",
            help="the studio reads and writes only files inside the folder it was started in",
        )


def _machine_names() -> tuple[str, ...]:
    """This machine's names and addresses: what others reach a server on every address by."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:  # a name that does not resolve here is still a name to accept
            pass
    return tuple(sorted(n for n in names if n))


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """``Host`` header values the server accepts: its own address and port, the loopback names
    when it listens on loopback, and this machine's names and addresses when on every address."""
    names: Iterable[str] = (host,)
    if host in ("127.0.0.1", "localhost", "::1"):
        names = LOOPBACK_NAMES
    elif host in ("0.0.0.0", "::"):
        names = (*LOOPBACK_NAMES, host, *_machine_names())
    out = set()
    for name in names:
        name = f"[{name}]" if ":" in name and not name.startswith("[") else name
        out.add(f"{name}:{port}")
        if port == 80:
            out.add(name)
    return frozenset(out)


class OriginGuard:
    """ASGI middleware: refuses (403) a request with a foreign ``Host`` or ``Origin``, and a
    POST that is not ``application/json``."""

    def __init__(self, app: object, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)

    def refusal(self, method: str, headers: dict[str, str]) -> str | None:
        """Why a request is refused, or None to serve it."""
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            return f"host {host!r} is not this studio's address"
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in {f"http://{h}" for h in self.hosts}:
            return f"requests from {origin!r} are refused (another site)"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "cross-site requests are refused"
        content = headers.get("content-type", "").split(";")[0].strip().lower()
        if method not in ("GET", "HEAD") and content != "application/json":
            return "a request that changes something must be application/json"
        return None

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] == "http":
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            why = self.refusal(scope["method"], headers)
            if why is not None:
                from starlette.responses import JSONResponse

                response = JSONResponse({"error": why}, status_code=403)
                await response(scope, receive, send)  # type: ignore[arg-type]
                return
        await self.app(scope, receive, send)  # type: ignore[operator]
