"""The bot's side of the task queue: enqueue by task name, await without blocking the loop.

A thin seam over ``core.queue`` (the shared send-only Celery client), so handlers depend on
three coroutines and tests or benchmarks can see exactly what crosses to the workers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from celery.result import AsyncResult

from core.held_images import forget_held_images
from core.queue import (
    ROUTES,
    broker_redis,
    enqueue_classify,
    enqueue_feedback,
    forget_flushed_interactions,
    forget_pending_interactions,
    queue_depths,
)
from core.queue import task_client as open_task_client
from core.schemas import ClassifyRequest, ClassifyResult, FeedbackRequest
from core.settings import Settings
from core.task_results import await_classify, await_result
from core.tasks import CHECK_RETRAIN
from core.warehouse import Warehouse
from core.warehouse.records import interaction_ids


class TaskClient:
    """Sends tasks to the workers and waits for their results."""

    def __init__(self, settings: Settings) -> None:
        self._client = open_task_client(settings)

    async def classify(self, request: ClassifyRequest, timeout: float) -> ClassifyResult:
        """Classify a stored photo on a worker; raise TimeoutError or core.queue.TaskFailed."""
        result = await asyncio.to_thread(enqueue_classify, self._client, request)
        return await await_classify(result, timeout)

    async def record_feedback(self, request: FeedbackRequest, timeout: float) -> dict[str, Any]:
        """Record an answer on a worker (which first flushes the interaction it refers to)."""
        result = await asyncio.to_thread(enqueue_feedback, self._client, request)
        value: dict[str, Any] = await await_result(result, timeout)
        return value

    async def forget_interactions(self, warehouse: Warehouse, user_id: str) -> int:
        """Drop a person's interactions still in Redis; return how many were still pending.

        The copies Redis keeps a day of those already in the warehouse go too.
        """
        return await asyncio.to_thread(self._forget_interactions, warehouse, user_id)

    def _forget_interactions(self, warehouse: Warehouse, user_id: str) -> int:
        with broker_redis(self._client) as redis:
            dropped = forget_pending_interactions(redis, user_id)
            # Asked after the drop, so a flush that took one of them before it is found here.
            forget_flushed_interactions(redis, interaction_ids(warehouse, user_id))
            return dropped

    async def write_held_images(self, warehouse: Warehouse, user_id: str) -> int:
        """Write a person's images rows still held in Redis (before /forget looks for them)."""
        return await asyncio.to_thread(self._write_held_images, warehouse, user_id)

    def _write_held_images(self, warehouse: Warehouse, user_id: str) -> int:
        with broker_redis(self._client) as redis:
            return forget_held_images(redis, warehouse, user_id)

    async def check_retrain(self, *, force: bool) -> AsyncResult:
        """Enqueue a retrain check (``force`` ignores the thresholds)."""
        kwargs = {"force": force}
        queue = ROUTES[CHECK_RETRAIN]
        send = self._client.send_task
        result: AsyncResult = await asyncio.to_thread(
            send, CHECK_RETRAIN, kwargs=kwargs, queue=queue
        )
        return result

    async def wait(self, result: AsyncResult, timeout: float) -> Any:
        """Return a task's value; raise TimeoutError or core.queue.TaskFailed."""
        return await await_result(result, timeout)

    async def queue_depths(self) -> dict[str, int]:
        """Messages waiting per queue, plus those delivered but not yet acknowledged."""
        return await asyncio.to_thread(queue_depths, self._client)

    def close(self) -> None:
        """Release broker connections."""
        self._client.close()
