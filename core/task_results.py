"""Waiting for Celery task results from an event loop, many at a time, without busy threads.

A result lives in the Redis result backend under its task's key until it is read. Polling
each one from its own thread (``AsyncResult.ready``) costs a thread hop and a Redis round
trip per waiting task per poll: with hundreds of photos in flight the polls crowd out the
sends. So one ``ResultWaiter`` per event loop and backend reads every waiting key with one
MGET per tick, hands each finished result to its waiter, and deletes what it has read (a
result holds no personal ids and stays in Redis no longer than needed).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from celery.result import AsyncResult
from celery.states import READY_STATES, SUCCESS

from core.queue import TaskFailed
from core.schemas import ClassifyResult

log = logging.getLogger(__name__)
POLL_SECONDS = 0.02
_WAITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, ResultWaiter]] = (
    weakref.WeakKeyDictionary()
)


class ResultWaiter:
    """The results one event loop waits for on one result backend, read together."""

    def __init__(self, backend: Any, poll: float = POLL_SECONDS) -> None:
        self.backend = backend
        self.poll = poll
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def wait(self, task_id: str, timeout: float) -> Any:
        """Return the task's value; raise TimeoutError, or TaskFailed when the task failed."""
        loop = asyncio.get_running_loop()
        future = self._waiting.setdefault(task_id, loop.create_future())
        if self._reader is None or self._reader.done():
            self._reader = loop.create_task(self._read_while_waited())
        try:
            meta = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise TimeoutError(f"task {task_id} not done after {timeout:.1f}s") from None
        finally:
            if self._waiting.get(task_id) is future:
                del self._waiting[task_id]
        return self._value(meta)

    async def _read_while_waited(self) -> None:
        failing = False
        while self._waiting:
            ids = list(self._waiting)
            try:
                finished = await asyncio.to_thread(self._read, ids)
                failing = False
            except Exception:  # Redis restarting: the waiters keep waiting, up to their timeout
                if not failing:
                    log.warning("reading task results failed; retrying", exc_info=True)
                failing, finished = True, {}
            for task_id, meta in finished.items():
                future = self._waiting.get(task_id)
                if future is not None and not future.done():
                    future.set_result(meta)
            await asyncio.sleep(self.poll)

    def _read(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        keys = [self.backend.get_key_for_task(task_id) for task_id in ids]
        finished: dict[str, dict[str, Any]] = {}
        for task_id, raw in zip(ids, self.backend.client.mget(keys), strict=True):
            if raw is None:
                continue
            meta = self.backend.decode_result(raw)
            if meta.get("status") in READY_STATES:
                finished[task_id] = meta
                # Read once: the key goes, and so does the sender's subscription to it.
                self.backend.forget(task_id)
        return finished

    def _value(self, meta: dict[str, Any]) -> Any:
        if meta["status"] == SUCCESS:
            return meta["result"]
        error = self.backend.exception_to_python(meta["result"])
        user_message = getattr(error, "user_message", None)
        raise TaskFailed(type(error).__name__, str(error), user_message=user_message)


def waiter_for(result: AsyncResult) -> ResultWaiter:
    """The waiter of the running event loop for ``result``'s backend."""
    by_backend = _WAITERS.setdefault(asyncio.get_running_loop(), {})
    backend = result.backend
    waiter = by_backend.get(id(backend))
    if waiter is None or waiter.backend is not backend:
        waiter = by_backend[id(backend)] = ResultWaiter(backend)
    return waiter


async def await_result(result: AsyncResult, timeout: float) -> Any:
    """Wait for ``result`` without blocking the event loop; raise TimeoutError or TaskFailed."""
    return await waiter_for(result).wait(result.id, timeout)


async def await_classify(result: AsyncResult, timeout: float) -> ClassifyResult:
    """Wait for a classify task and return its typed result."""
    return ClassifyResult.model_validate(await await_result(result, timeout))
