"""The studio's web application: the page, its assets, and the JSON it asks for.

Every route is one small function over :class:`Studio` (the folder, the editor analysis and
the trainer); a :class:`~netdsl.errors.NetdslError` becomes a 400 with the error's fields, and
:class:`~.guard.OriginGuard` wraps the whole application.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...errors import NetdslError, StudioError
from .editor import Editor
from .guard import Confined, OriginGuard
from .trainer import Trainer

__all__ = ["EXAMPLE_NAME", "Studio", "create_app"]

#: what the page calls the example it opens with when no FILE is given
EXAMPLE_NAME = "example.net"
#: the largest program the page may send (a program is text; this is far beyond any)
MAX_TEXT = 1 << 20


def _static() -> Path:
    return Path(str(resources.files("netdsl.tools.studio") / "static"))


@dataclass
class Studio:
    """What the routes share: the folder, the document opened first, analysis and training."""

    files: Confined
    editor: Editor
    trainer: Trainer
    first: str | None  # the FILE given on the command line, relative to the folder

    def opened(self) -> dict[str, Any]:
        """The document the page opens: FILE, or the example (not yet saved anywhere)."""
        if self.first is not None:
            path = self.files.path(self.first)
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            return {"name": self.first, "text": text, "example": False}
        example = resources.files("netdsl.tools.studio") / "example.net"
        return {"name": EXAMPLE_NAME, "text": example.read_text("utf-8"), "example": True}


Handler = Callable[[Studio, dict[str, Any]], Any]


def _route(
    studio: Studio, handler: Handler, threaded: bool
) -> Callable[[Request], Awaitable[Response]]:
    """A JSON endpoint: the request's JSON body (or query) in, the handler's answer out.
    ``threaded``: the handler waits on something (Graphviz, a process, the disk), so it runs in
    a worker thread and the checks of the next keystrokes are not held behind it."""

    async def endpoint(request: Request) -> Response:
        args: dict[str, Any] = dict(request.query_params)
        args.update(request.path_params)
        if request.method == "POST":
            body = await request.body()
            if len(body) > MAX_TEXT:
                return JSONResponse({"error": "the request is too large"}, status_code=413)
            try:
                data = await request.json() if body else {}
            except ValueError:
                return JSONResponse({"error": "the body is not JSON"}, status_code=400)
            if not isinstance(data, dict):
                return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
            args.update(data)
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            if threaded:
                answer = await run_in_threadpool(handler, studio, args)
            else:
                answer = handler(studio, args)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            # the server's own share of a request's time, for the page's timings and the bench
            timing = f"app;dur={1000 * wall:.2f}, cpu;dur={1000 * cpu:.2f}"
            return JSONResponse(answer, headers={"Server-Timing": timing})
        except NetdslError as e:
            return JSONResponse({"error": e.message, "help": e.help, "code": e.code}, 400)
        except (KeyError, TypeError, ValueError) as e:
            return JSONResponse({"error": f"a bad request: {e}"}, status_code=400)
        except OSError as e:  # the disk said no: a file that cannot be read or written
            where = f" ({studio.files.shown(Path(e.filename))})" if _inside(studio, e) else ""
            return JSONResponse({"error": f"{e.strerror or e}{where}"}, status_code=400)

    return endpoint


def _inside(studio: Studio, e: OSError) -> bool:
    """Whether the failing file of ``e`` is inside the folder (then it may be named)."""
    if not isinstance(e.filename, str):
        return False
    try:
        studio.files.shown(Path(e.filename))
    except ValueError:
        return False
    return True


def _name(args: dict[str, Any]) -> str:
    return str(args.get("name") or EXAMPLE_NAME)


def _text(args: dict[str, Any]) -> str:
    text = args["text"]
    if not isinstance(text, str):
        raise TypeError("`text` must be a string")
    return text


def _at(args: dict[str, Any]) -> tuple[int, int]:
    return int(args["line"]), int(args["character"])


def _check(s: Studio, a: dict[str, Any]) -> Any:
    s.files.path(_name(a))
    return s.editor.check(_name(a), _text(a))


def _hover(s: Studio, a: dict[str, Any]) -> Any:
    return {"markdown": s.editor.hover(_name(a), _text(a), *_at(a))}


def _complete(s: Studio, a: dict[str, Any]) -> Any:
    return {"items": s.editor.complete(_name(a), _text(a), *_at(a))}


def _diagram(s: Studio, a: dict[str, Any]) -> Any:
    have = a.get("have")
    return s.editor.diagram(_name(a), _text(a), have if isinstance(have, str) else None)


def _open(s: Studio, a: dict[str, Any]) -> Any:
    if "name" not in a:
        return s.opened()
    path = s.files.path(str(a["name"]))
    if not path.exists():  # a new file: the page keeps its text until it is saved there
        return {"name": s.files.shown(path), "text": None, "example": False}
    if not path.is_file():
        raise StudioError(f"{a['name']!r} is not a file", code="NDL410")
    return {"name": s.files.shown(path), "text": path.read_text("utf-8"), "example": False}


def _save(s: Studio, a: dict[str, Any]) -> Any:
    from ..files import rewrite

    path = s.files.path(_name(a))
    if path.exists() and not path.is_file():
        raise StudioError(f"{_name(a)!r} is not a file", code="NDL410")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        rewrite(str(path), _text(a))  # as `fmt --write` edits: its mode kept, atomically
    else:
        with open(path, "x", encoding="utf-8", newline="") as f:
            f.write(_text(a))
    return {"name": s.files.shown(path), "saved": True}


#: folders the file list does not descend into (run folders, tools' caches, hidden ones)
SKIPPED = frozenset({"runs", "node_modules", "__pycache__", "site-packages"})
#: at most this many folders are looked at for the file list (a studio started in a big tree)
MAX_FOLDERS = 2000


def _files(s: Studio, a: dict[str, Any]) -> Any:
    """The ``.net`` files under the folder (not following links out), for the file picker."""
    root, names = s.files.root, []
    for seen, (here, folders, files) in enumerate(os.walk(root), 1):
        folders[:] = sorted(f for f in folders if f not in SKIPPED and not f.startswith("."))
        for f in files:
            path = Path(here) / f
            if f.endswith(".net") and path.is_file() and root in path.resolve().parents:
                names.append(s.files.shown(path))
        if seen >= MAX_FOLDERS or len(names) >= 500:
            break
    return {"files": sorted(names)[:500]}


def _start(s: Studio, a: dict[str, Any]) -> Any:
    path = s.files.path(_name(a))
    epochs = int(a["epochs"]) if a.get("epochs") not in (None, "") else None
    if epochs is not None and not 1 <= epochs <= 100_000:
        raise ValueError("epochs must be between 1 and 100000")
    return s.trainer.start(_text(a), path, epochs)


#: path, method, handler; the checks, hovers and completions run at once on the event loop (a
#: few milliseconds each), the rest in worker threads (see :func:`_route`)
ROUTES: list[tuple[str, str, Handler]] = [
    ("/api/open", "POST", _open),
    ("/api/save", "POST", _save),
    ("/api/files", "GET", _files),
    ("/api/check", "POST", _check),
    ("/api/hover", "POST", _hover),
    ("/api/complete", "POST", _complete),
    ("/api/diagram", "POST", _diagram),
    ("/api/run", "POST", _start),
    ("/api/stop", "POST", lambda s, a: s.trainer.stop()),
    ("/api/resume", "POST", lambda s, a: s.trainer.resume(str(a["run"]))),
    ("/api/status", "GET", lambda s, a: s.trainer.status()),
    ("/api/runs", "GET", lambda s, a: {"runs": s.trainer.table()}),
    ("/api/runs/{run}/history", "GET", lambda s, a: s.trainer.history(str(a["run"]))),
    ("/api/runs/{run}/confusion", "GET", lambda s, a: {"confusion": s.trainer.confusion(a["run"])}),
]

#: handlers answered on the event loop: pure computation, a few milliseconds
INLINE = (_check, _hover, _complete)


def create_app(
    root: str | Path,
    first: str | None,
    registry: Any,
    hosts: frozenset[str],
    trainer: Trainer | None = None,
) -> Any:
    """The studio for the folder ``root`` (FILE ``first`` inside it, or the example), answering
    only requests addressed to ``hosts``."""
    files = Confined(root)
    studio = Studio(files, Editor(registry, files.root), trainer or Trainer(files.root), first)
    static = _static()

    async def page(request: Request) -> Response:
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-store"})

    routes: list[Any] = [Route("/", page)]
    routes += [Route(p, _route(studio, h, h not in INLINE), methods=[m]) for p, m, h in ROUTES]
    routes.append(Mount("/static", StaticFiles(directory=static), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        studio.trainer.close()  # a run still going is stopped (and saves) with the studio

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.studio = studio
    return OriginGuard(app, hosts)
