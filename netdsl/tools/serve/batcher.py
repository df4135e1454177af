"""Server-side batching: requests that arrive together share one model call.

Each request puts its instances on a queue and waits. One task takes the first waiting request,
keeps taking more for at most ``window`` seconds or until ``max_batch`` instances are held, and
runs the model once on them all in a worker thread (the event loop keeps accepting requests
meanwhile, so under load the next batch is already waiting when the call returns). A request
larger than ``max_batch`` is run on its own. :meth:`Batcher.close` lets every queued request
finish before it returns (what SIGTERM's drain waits for).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BatchStats", "Batcher"]

Inputs = Mapping[str, np.ndarray]
RunBatch = Callable[[dict[str, np.ndarray]], Any]


@dataclass
class _Job:
    inputs: Inputs
    rows: int
    future: asyncio.Future[Any]


@dataclass
class BatchStats:
    """How the batcher has been used: model calls, instances and requests served, the largest
    batch; ``GET /health`` shows them."""

    calls: int = 0
    instances: int = 0
    requests: int = 0
    largest: int = 0
    model_seconds: float = 0.0
    sizes: dict[int, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "model_calls": self.calls,
            "requests": self.requests,
            "instances": self.instances,
            "largest_batch": self.largest,
            "model_seconds": round(self.model_seconds, 6),
        }


class Batcher:
    """Gathers requests into batches of at most ``max_batch`` instances, waiting at most
    ``window`` seconds after the first, and runs ``run`` once per batch in its own thread.
    ``run`` takes one array per input (the instances stacked) and returns one output row per
    instance (a sequence or an array)."""

    def __init__(self, run: RunBatch, max_batch: int = 64, window: float = 0.002) -> None:
        self.run = run
        self.max_batch = max_batch
        self.window = window
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="netdsl-model")
        self._task: asyncio.Task[None] | None = None
        self._held: _Job | None = None  # a job taken that did not fit the batch being made

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="netdsl-batcher")

    async def submit(self, inputs: Inputs) -> list[Any]:
        """The model's output rows for ``inputs`` (one row per instance), when its batch ran."""
        if self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running")
        rows = next(iter(inputs.values())).shape[0]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(inputs, rows, future))
        result: list[Any] = await future
        return result

    async def close(self) -> None:
        """Serve every request already queued, then stop and free the worker thread."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
        self._pool.shutdown(wait=True)

    async def _loop(self) -> None:
        while True:
            batch = await self._collect()
            if batch is None:
                return
            await self._run(batch)

    async def _collect(self) -> list[_Job] | None:
        """The next batch: the first job, then whatever arrives within the window and fits."""
        first = self._held if self._held is not None else await self._queue.get()
        self._held = None
        if first is None:
            return None
        batch, rows = [first], first.rows
        deadline = time.monotonic() + self.window
        while rows < self.max_batch:
            job = await self._next(deadline)
            if job is None:  # the window closed, or the batcher is stopping
                break
            if rows + job.rows > self.max_batch:
                self._held = job
                break
            batch.append(job)
            rows += job.rows
        return batch

    async def _next(self, deadline: float) -> _Job | None:
        """The next queued job if one comes before ``deadline``; a stop request is put back
        so the batch in hand still runs."""
        try:
            job = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                job = await asyncio.wait_for(self._queue.get(), left)
            except asyncio.TimeoutError:
                return None
        if job is None:
            self._queue.put_nowait(None)
        return job

    async def _run(self, batch: list[_Job]) -> None:
        live = [job for job in batch if not job.future.done()]  # a client gone is not run
        if not live:
            return
        names = list(live[0].inputs)
        stacked = {n: np.concatenate([job.inputs[n] for job in live]) for n in names}
        started = time.perf_counter()
        try:
            out = await asyncio.get_running_loop().run_in_executor(self._pool, self.run, stacked)
        except Exception as exc:  # noqa: BLE001 - the model's failure is each waiting request's answer
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self._count(live, time.perf_counter() - started)
        start = 0
        for job in live:
            if not job.future.done():
                job.future.set_result(list(out[start : start + job.rows]))
            start += job.rows

    def _count(self, live: list[_Job], seconds: float) -> None:
        rows = sum(job.rows for job in live)
        s = self.stats
        s.calls += 1
        s.requests += len(live)
        s.instances += rows
        s.largest = max(s.largest, rows)
        s.model_seconds += seconds
        s.sizes[rows] = s.sizes.get(rows, 0) + 1
