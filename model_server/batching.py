"""Micro-batching: predictions requested together share one model call.

Requests hand their picture to ``MicroBatcher.predict`` and await a future. One asyncio task
collects whatever is queued (waiting at most ``max_wait`` seconds after the first item for
more, up to ``max_size`` items) and runs the model on a single dedicated thread, so the event
loop never blocks on the model and the model never runs two batches at once. While a batch
runs, the next one fills up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from core.model.api import Prediction

BatchPredict = Callable[[Sequence[Image.Image], np.ndarray | None], list[Prediction]]


@dataclass
class _Pending:
    image: Image.Image
    prepared: np.ndarray | None
    future: asyncio.Future[Prediction]
    queued_at: float = field(default_factory=time.perf_counter)


class BatcherClosed(RuntimeError):
    """The batcher was stopped while a request waited."""


class MicroBatcher:
    """Groups concurrent prediction requests into batches run on one model thread."""

    def __init__(
        self,
        predict: BatchPredict,
        *,
        max_size: int,
        max_wait: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._predict = predict
        self.max_size = max_size
        self.max_wait = max_wait
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        """Requests waiting for the next batch."""
        return self._queue.qsize()

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The model thread; other model work (loading, refreshing) runs here too."""
        return self._executor

    def start(self) -> None:
        """Start the collecting task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        """Stop collecting, fail queued requests and release the model thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(BatcherClosed("the server is shutting down"))
        self._executor.shutdown(wait=True)

    async def predict(self, image: Image.Image, prepared: np.ndarray | None = None) -> Prediction:
        """Queue one picture (and optionally its prepared model input) and await its result."""
        if self._task is None:
            raise BatcherClosed("the batcher is not running")
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(image, prepared, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            await self._run_batch(batch)

    async def _collect(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return [p for p in batch if not p.future.cancelled()]

    async def _run_batch(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        images = [p.image for p in batch]
        prepared = _stack([p.prepared for p in batch])
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._predict, images, prepared)
            if len(results) != len(batch):
                raise RuntimeError(f"model returned {len(results)} results for {len(batch)}")
        except Exception as exc:  # every waiter must hear about the failure
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(batch))
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)


def _stack(parts: list[np.ndarray | None]) -> np.ndarray | None:
    if any(part is None for part in parts):
        return None
    return np.stack([part for part in parts if part is not None])
