"""Count deliveries per task attempt, so a message that kills its worker is not run forever.

``task_reject_on_worker_lost`` puts a message back when its process dies. A message that
kills every process that runs it (a poison message) would loop; after ``limit`` deliveries
of the same attempt it is refused instead.
"""

from __future__ import annotations

import redis

from core.queue import PoisonMessage

KEY_PREFIX = "creature-vis:deliveries"
KEY_TTL_SECONDS = 24 * 3600


def count_delivery(client: redis.Redis, task_id: str, attempt: int, limit: int) -> int:
    """Count one delivery of ``task_id``'s ``attempt``; raise PoisonMessage past ``limit``."""
    key = f"{KEY_PREFIX}:{task_id}:{attempt}"
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, KEY_TTL_SECONDS)
    count = int(pipe.execute()[0])
    if count > limit:
        raise PoisonMessage(
            f"task {task_id} attempt {attempt} delivered {count} times (limit {limit}); refused"
        )
    return count


def forget_deliveries(client: redis.Redis, task_id: str, attempt: int) -> None:
    """Drop the counter of a finished attempt."""
    client.delete(f"{KEY_PREFIX}:{task_id}:{attempt}")
