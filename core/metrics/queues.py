"""Queue depth and live workers, measured where Redis and Celery are at hand (the beat task)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from core.metrics.names import QUEUE_DEPTH, WORKERS_ONLINE
from core.metrics.sink import MetricsSink
from core.tasks import DEFAULT_QUEUE, INFERENCE_QUEUE, TRAINING_QUEUE

# Celery's Redis transport keeps one list per queue and priority step; the default steps
# 0, 3, 6, 9 are stored as "<queue>", "<queue>\x06\x163", "<queue>\x06\x166", "<queue>\x06\x169".
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
QUEUES = (INFERENCE_QUEUE, DEFAULT_QUEUE, TRAINING_QUEUE)


class ListLengths(Protocol):
    """The one Redis call needed: the length of a list."""

    def llen(self, name: str) -> int:
        """Return the length of the list at ``name``."""


def queue_depths(redis: ListLengths, queues: Iterable[str] = QUEUES) -> dict[str, int]:
    """Tasks waiting in each Celery queue (all priority steps together)."""
    return {q: sum(int(redis.llen(q + suffix)) for suffix in PRIORITY_SUFFIXES) for q in queues}


def record_queue_depths(
    sink: MetricsSink, redis: ListLengths, queues: Iterable[str] = QUEUES
) -> dict[str, int]:
    """Record the depth of each queue in ``sink``; return the depths."""
    depths = queue_depths(redis, queues)
    for queue, depth in depths.items():
        sink.record(QUEUE_DEPTH, depth, {"queue": queue})
    return depths


def record_workers_online(sink: MetricsSink, count: int) -> None:
    """Record how many workers answered a ping (the caller runs Celery's inspect)."""
    sink.record(WORKERS_ONLINE, count)
