"""The ASGI application of ``netdsl serve`` (Starlette): the routes, the body limits and the
one place a refused request becomes a JSON answer.

| route | answer |
| --- | --- |
| ``GET /`` | the model: inputs (names, dtypes, shapes or column types, what they accept), outputs |
| ``GET /health`` | ``{"status": "ok"}`` (``"draining"`` once SIGTERM came, with 503), batch counts |
| ``POST /predict`` | ``{"instances": [...]}`` (JSON) or image files (multipart) → top classes or values |
| ``POST /v1/models/<name>:predict`` | TensorFlow Serving's REST predict: ``instances``/``inputs`` |
| ``GET /v1/models/<name>`` | TensorFlow Serving's model status |
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .batcher import Batcher
from .decode import RequestError, batch_of, image_from_bytes, instances_of, parse_json
from .service import Limits, Service
from .signature import Signature

__all__ = ["Limits", "Service", "create_app"]

#: bodies larger than this are parsed in a worker thread, so the event loop keeps serving
PARSE_INLINE_BYTES = 64 << 10


def create_app(service: Service) -> Starlette:
    """The application serving ``service``; its batcher starts and stops with it (lifespan).
    ``app.state.draining`` turns true when the server stops taking connections."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        batcher = Batcher(service.run, service.limits.max_batch, service.limits.window)
        batcher.start()
        app.state.batcher = batcher
        try:
            yield
        finally:
            app.state.draining = True
            await batcher.close()

    async def describe(request: Request) -> Response:
        return JSONResponse(
            {
                **service.signature.to_json(),
                **service.about,
                "limits": service.limits.to_json(),
                "endpoints": _endpoints(service.name),
            }
        )

    async def health(request: Request) -> Response:
        batcher: Batcher = request.app.state.batcher
        draining = bool(request.app.state.draining)
        status = "draining" if draining else "ok"
        body = {"status": status, "model": service.name, "batching": batcher.stats.to_json()}
        return JSONResponse(body, status_code=503 if draining else 200)

    async def predict(request: Request) -> Response:
        top = _top(request, max(len(o.classes) for o in service.signature.outputs) or 1)
        _, batch = await _read_batch(request, service, ("instances",))
        rows = await _submit(request, batch)
        return JSONResponse(
            {"model": service.name, "predictions": [service.explain(r, top) for r in rows]}
        )

    async def tf_predict(request: Request) -> Response:
        _servable(request, service)
        key, batch = await _read_batch(request, service, ("instances", "inputs"))
        rows = await _submit(request, batch)
        if not service.signature.graph:
            values: Any = [np.asarray(r).tolist() for r in rows]
        elif key == "instances":  # TF Serving's row form of several outputs: an object a row
            values = [{k: np.asarray(v).tolist() for k, v in r.items()} for r in rows]
        else:  # its columnar form: one batch per output
            names = [o.name for o in service.signature.outputs]
            values = {k: [np.asarray(r[k]).tolist() for r in rows] for k in names}
        return JSONResponse({"predictions" if key == "instances" else "outputs": values})

    async def tf_status(request: Request) -> Response:
        _servable(request, service)
        ok = {"error_code": "OK", "error_message": ""}
        return JSONResponse(
            {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": ok}]}
        )

    routes = [
        Route("/", describe, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/predict", predict, methods=["POST"]),
        Route("/v1/models/{name}:predict", tf_predict, methods=["POST"]),
        Route("/v1/models/{name}", tf_status, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {
        RequestError: _refused,
        HTTPException: _http_error,
        Exception: _crashed,
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.draining = False
    return app


def _endpoints(name: str) -> dict[str, str]:
    return {
        "describe": "GET /",
        "health": "GET /health",
        "predict": 'POST /predict {"instances": [...]} (or multipart image files); ?top=K',
        "tensorflow_serving": f'POST /v1/models/{name}:predict {{"instances": [...]}}',
    }


def _top(request: Request, classes: int) -> int:
    text = request.query_params.get("top", "3")
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise RequestError(422, f"top is `{text[:20]}`", "top", "a whole number of 1 or more")
    return min(int(text), classes)


def _servable(request: Request, service: Service) -> None:
    name = request.path_params["name"]
    if name != service.name:
        raise RequestError(
            404, f"Servable not found for request: Latest({name[:100]})", "name", service.name
        )


async def _submit(request: Request, batch: dict[str, np.ndarray]) -> list[Any]:
    batcher: Batcher = request.app.state.batcher
    return await batcher.submit(batch)


async def read_body(request: Request, limits: Limits) -> bytes:
    """The request's body, refused (413) past ``limits.max_body`` whether its length is
    declared or only counted as it streams in, and (408) when it takes longer than
    ``limits.read_timeout`` to arrive."""
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        raise RequestError(400, f"Content-Length is `{declared[:20]}`", "content-length")
    if declared is not None and int(declared) > limits.max_body:
        raise _too_large(limits, declared)
    chunks: list[bytes] = []
    size = 0

    async def receive_all() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body:
                raise _too_large(limits, None)
            chunks.append(chunk)

    try:
        await asyncio.wait_for(receive_all(), limits.read_timeout)
    except asyncio.TimeoutError:
        raise RequestError(
            408,
            f"the body did not arrive within {limits.read_timeout:g} s",
            "body",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def _too_large(limits: Limits, declared: str | None) -> RequestError:
    said = f"declares {declared[:20]} bytes" if declared else "is larger"
    return RequestError(
        413,
        f"the body {said}; the limit is {limits.max_body:,} bytes (--max-body-mb)",
        "body",
        headers={"Connection": "close"},
    )


async def _read_batch(
    request: Request, service: Service, keys: tuple[str, ...]
) -> tuple[str, dict[str, np.ndarray]]:
    """The request's instances as one array per input, from JSON or multipart image files."""
    body = await read_body(request, service.limits)
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return keys[0], await _multipart(request, body, service)

    # any other type is read as JSON, as TensorFlow Serving does (curl -d sends a form type)
    def decode() -> tuple[str, dict[str, np.ndarray]]:
        key, items = instances_of(parse_json(body), keys, service.limits.max_instances)
        if key == "inputs":  # TF Serving's columnar form: one batch per input
            return key, _columnar(items, service.signature)
        return key, batch_of(items, service.signature, key)

    if len(body) > PARSE_INLINE_BYTES or b'"b64"' in body:  # big, or images to decode
        return await run_in_threadpool(decode)
    return decode()


def _columnar(items: Any, sig: Signature) -> dict[str, np.ndarray]:
    """TF Serving's ``{"inputs": ...}``: the batch of the sole input, as instances (a model
    of named inputs' object of one batch per input came as instances from :func:`instances_of`)."""
    return batch_of(items, sig, "inputs")


async def _multipart(request: Request, body: bytes, service: Service) -> dict[str, np.ndarray]:
    """Image files sent as a form, each part named after an image input: one instance a file."""
    from starlette.formparsers import MultiPartParser

    images = [spec for spec in service.signature.inputs if spec.image]
    if not images or len(service.signature.inputs) != 1:
        raise RequestError(
            415,
            "multipart files, but the model does not take one image",
            "content-type",
            "application/json",
        )
    spec = images[0]

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    parser = MultiPartParser(
        request.headers,
        stream(),
        max_files=service.limits.max_instances,
        max_fields=16,
        max_part_size=service.limits.max_body,
    )
    try:
        form = await parser.parse()
    except Exception as exc:  # noqa: BLE001 - Starlette's MultiPartException and the parser's own
        raise RequestError(400, f"not a valid multipart body ({exc})", "body") from None
    try:
        files = [(k, v) for k, v in form.multi_items()]
        unknown = [k for k, v in files if k != spec.name or not isinstance(v, UploadFile)]
        if unknown:
            raise RequestError(
                422,
                f"a part named `{unknown[0][:60]}`",
                unknown[0][:60],
                f"image files in parts named `{spec.name}`",
            )
        if not files:
            raise RequestError(
                422, "no files", spec.name, f"image files in parts named `{spec.name}`"
            )
        datas = [await v.read() for _, v in files if isinstance(v, UploadFile)]
    finally:
        await form.close()

    def decode() -> dict[str, np.ndarray]:
        rows = [image_from_bytes(d, spec, f"{spec.name}[{i}]") for i, d in enumerate(datas)]
        return {spec.name: np.stack(rows)}

    return await run_in_threadpool(decode)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=exc.headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _crashed(request: Request, exc: Exception) -> Response:
    """An error no check foresaw: answered 500 without its traceback (which uvicorn logs)."""
    return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)
