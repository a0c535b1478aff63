"""Queue depth and live workers as sink metrics, for the beat task that can see Redis."""

from __future__ import annotations

from typing import Any

from core.metrics.names import QUEUE_DEPTH, WORKERS_ONLINE
from core.metrics.sink import MetricsSink
from core.queue import count_queued


def record_queue_depths(sink: MetricsSink, redis: Any) -> dict[str, int]:
    """Record the depth of each Celery queue (``core.queue.count_queued``); return them."""
    depths = count_queued(redis)
    for queue, depth in depths.items():
        sink.record(QUEUE_DEPTH, depth, {"queue": queue})
    return depths


def record_workers_online(sink: MetricsSink, count: int) -> None:
    """Record how many workers answered a ping (the caller runs Celery's inspect)."""
    sink.record(WORKERS_ONLINE, count)
