"""Queue depth and live workers as sink metrics, sampled from the broker the workers share."""

from __future__ import annotations

from typing import Any

from core.metrics.names import QUEUE_DEPTH, WORKERS_ONLINE
from core.metrics.sink import MetricsSink
from core.queue import broker_redis, count_queued, task_client
from core.settings import Settings

PING_TIMEOUT_SECONDS = 1.0


def record_queue_depths(sink: MetricsSink, redis: Any) -> dict[str, int]:
    """Record the depth of each Celery queue (``core.queue.count_queued``); return them."""
    depths = count_queued(redis)
    for queue, depth in depths.items():
        sink.record(QUEUE_DEPTH, depth, {"queue": queue})
    return depths


def record_workers_online(sink: MetricsSink, count: int) -> None:
    """Record how many workers answered a ping."""
    sink.record(WORKERS_ONLINE, count)


def sample_queues(settings: Settings, sink: MetricsSink) -> dict[str, Any]:
    """Record queue depths and the workers answering a ping now; return both."""
    client = task_client(settings)
    try:
        with broker_redis(client) as redis:
            depths = record_queue_depths(sink, redis)
        workers = len(client.control.ping(timeout=PING_TIMEOUT_SECONDS) or [])
    finally:
        client.close()
    record_workers_online(sink, workers)
    return {"queue_depth": depths, "workers_online": workers}
