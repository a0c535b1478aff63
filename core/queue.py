"""Send work to the Celery workers by task name, and read the queues' Redis layout.

The bot and the model server use this module instead of importing ``workers``: a send-only
Celery client on the same Redis, the task names of ``core.tasks`` and the messages of
``core.schemas``. Waiting for results from an event loop: ``core.task_results``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from celery import Celery
from celery.result import AsyncResult
from pydantic import BaseModel

from core import tasks
from core.errors import ConfigurationError, CreatureVisError
from core.schemas import ClassifyRequest, FeedbackRequest
from core.settings import Settings

# kombu's Redis transport keeps priorities 3, 6 and 9 of a queue in sibling lists.
_PRIORITY_SUFFIXES: Final = ("", "\x06\x163", "\x06\x166", "\x06\x169")
UNACKED_KEY: Final = "unacked"
# Interactions logged by classify wait here (rows under their id, ids in a set) until a
# worker writes them to the warehouse in a batch.
INTERACTION_ROW_KEY: Final = "creature-vis:interaction:"
PENDING_INTERACTIONS_KEY: Final = "creature-vis:interactions:pending"
FORGOTTEN_INTERACTIONS_KEY: Final = "creature-vis:interactions:forgotten"
FORGOTTEN_KEEP_SECONDS: Final = 24 * 3600
# Answers accepted while the warehouse could not take them wait here (feedback id -> the
# answer as JSON) until a worker's flusher writes them.
PARKED_ANSWERS_KEY: Final = "creature-vis:answers:parked"
QUEUES: Final = (tasks.INFERENCE_QUEUE, tasks.DEFAULT_QUEUE, tasks.TRAINING_QUEUE)
ROUTES: Final[dict[str, str]] = {
    tasks.CLASSIFY: tasks.INFERENCE_QUEUE,
    tasks.RECORD_FEEDBACK: tasks.DEFAULT_QUEUE,
    tasks.ACQUIRE_PHOTOS: tasks.DEFAULT_QUEUE,
    tasks.CHECK_RETRAIN: tasks.TRAINING_QUEUE,
    tasks.RETRAIN: tasks.TRAINING_QUEUE,
}


class InvalidTaskPayload(CreatureVisError):
    """A task message that can never succeed (bad or missing fields): refused, not retried."""

    user_message = "That request could not be understood."


class PoisonMessage(CreatureVisError):
    """A message delivered too often without finishing (it keeps killing its worker)."""

    user_message = "That request failed repeatedly and was dropped."


class TaskFailed(CreatureVisError):
    """A task ended in failure; ``error_type`` names the worker-side exception."""

    def __init__(self, error_type: str, detail: str, *, user_message: str | None = None) -> None:
        super().__init__(f"{error_type}: {detail}", user_message=user_message)
        self.error_type = error_type


def broker_url(settings: Settings) -> str:
    """Return the Redis URL the workers and their clients share."""
    if not settings.redis.url:
        raise ConfigurationError(
            "REDIS_URL is not set (`creature-vis run` sets it for the processes it starts)"
        )
    return settings.redis.url


RESULT_EXPIRES_SECONDS: Final = 3600


def configure(app: Celery, settings: Settings) -> None:
    """Apply what senders and workers must agree on: JSON only, routes, result backend."""
    url = broker_url(settings)
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # A result holds no task arguments (user and chat ids stay out of Redis), is deleted
        # by ``await_result`` once read, and expires within the hour when nobody reads it.
        result_extended=False,
        result_expires=RESULT_EXPIRES_SECONDS,
        task_default_queue=tasks.DEFAULT_QUEUE,
        task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        result_backend_always_retry=True,
        result_backend_max_retries=10,
        enable_utc=True,
    )


def task_client(settings: Settings) -> Celery:
    """Return a Celery app for sending tasks and reading results (it runs no tasks)."""
    app = Celery("creature_vis_client", set_as_current=False)
    configure(app, settings)
    return app


def enqueue(client: Celery, name: str, payload: BaseModel, **options: Any) -> AsyncResult:
    """Send task ``name`` with ``payload`` as JSON keyword arguments."""
    if name not in ROUTES:
        raise ValueError(f"unknown task {name!r}")
    kwargs = payload.model_dump(mode="json")
    return client.send_task(name, kwargs=kwargs, queue=ROUTES[name], **options)


def enqueue_classify(client: Celery, request: ClassifyRequest) -> AsyncResult:
    """Ask a worker to classify a stored photo and log the interaction."""
    return enqueue(client, tasks.CLASSIFY, request)


def enqueue_feedback(client: Celery, request: FeedbackRequest) -> AsyncResult:
    """Ask a worker to record a person's answer."""
    return enqueue(client, tasks.RECORD_FEEDBACK, request)


@contextmanager
def broker_redis(client: Celery) -> Iterator[Any]:
    """Lend the redis-py client of one of ``client``'s broker connections (from its pool)."""
    with client.connection_for_write() as connection:
        yield connection.default_channel.client


def queue_depths(client: Celery) -> dict[str, int]:
    """Return messages waiting per queue, plus ``unacked`` (delivered, not yet acknowledged)."""
    with broker_redis(client) as redis:
        return count_queued(redis)


def count_queued(redis: Any) -> dict[str, int]:
    """Count waiting messages per queue and unacknowledged ones, on a redis-py client."""
    depths = {
        queue: sum(int(redis.llen(queue + suffix)) for suffix in _PRIORITY_SUFFIXES)
        for queue in QUEUES
    }
    depths[UNACKED_KEY] = int(redis.hlen(UNACKED_KEY))
    return depths


def waiting_kwargs(redis: Any, queue: str, task: str, limit: int) -> list[dict[str, Any]]:
    """Keyword arguments of up to ``limit`` ``task`` messages waiting in ``queue``, left there.

    The next to be delivered come first. kombu's Redis transport pushes a message on the left
    of the queue's list and delivers from the right, as JSON whose body (base64) is Celery's
    ``[args, kwargs, embed]``; anything else found there is passed over.
    """
    if limit <= 0:
        return []
    found = []
    for data in reversed(redis.lrange(queue, -limit, -1)):
        try:
            message = json.loads(data)
            if message.get("headers", {}).get("task") != task:
                continue
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            kwargs = json.loads(body)[1]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            continue
        if isinstance(kwargs, dict):
            found.append(kwargs)
    return found


def forget_pending_interactions(redis: Any, user_id: str) -> int:
    """Drop a person's interactions and answers not yet in the warehouse (before ``forget_user``).

    A flush already under way may still write one of them; the interaction ids go to a
    "forgotten" set that the flusher checks after each write, deleting any row (interaction
    or answer) it wrote too late and keeping no copy of it in Redis. Then ask the warehouse
    which of the person's interactions it holds and pass them to ``forget_flushed_interactions``:
    a flush that finished before this drop is in the warehouse by then.
    """
    dropped = _forget_parked_answers(redis, user_id)
    for member in redis.smembers(PENDING_INTERACTIONS_KEY):
        interaction_id = member.decode() if isinstance(member, bytes) else str(member)
        data = redis.get(INTERACTION_ROW_KEY + interaction_id)
        if data is not None and json.loads(data).get("user_id") == user_id:
            pipe = redis.pipeline()
            pipe.sadd(FORGOTTEN_INTERACTIONS_KEY, interaction_id)
            pipe.expire(FORGOTTEN_INTERACTIONS_KEY, FORGOTTEN_KEEP_SECONDS)
            pipe.srem(PENDING_INTERACTIONS_KEY, interaction_id)
            pipe.delete(INTERACTION_ROW_KEY + interaction_id)
            pipe.execute()
            dropped += 1
    return dropped


def forget_flushed_interactions(redis: Any, flushed: Sequence[str]) -> None:
    """Drop the copies Redis keeps a day of interactions already in the warehouse.

    They name nobody but still hold the photo's id and its prediction. The ids go to the
    "forgotten" set too, for a flush that is still writing one of them.
    """
    if flushed:
        pipe = redis.pipeline()
        pipe.sadd(FORGOTTEN_INTERACTIONS_KEY, *flushed)
        pipe.expire(FORGOTTEN_INTERACTIONS_KEY, FORGOTTEN_KEEP_SECONDS)
        pipe.delete(*(INTERACTION_ROW_KEY + i for i in flushed))
        pipe.execute()


def _forget_parked_answers(redis: Any, user_id: str) -> int:
    dropped = 0
    for feedback_id, data in redis.hgetall(PARKED_ANSWERS_KEY).items():
        answer = json.loads(data)
        if answer.get("user_id") != user_id:
            continue
        pipe = redis.pipeline()
        pipe.sadd(FORGOTTEN_INTERACTIONS_KEY, answer["interaction_id"])
        pipe.expire(FORGOTTEN_INTERACTIONS_KEY, FORGOTTEN_KEEP_SECONDS)
        pipe.hdel(PARKED_ANSWERS_KEY, feedback_id)
        pipe.execute()
        dropped += 1
    return dropped


# Deliveries per task attempt, so a message that kills its worker is not run forever:
# ``task_reject_on_worker_lost`` puts a message back when its process dies, and one that kills
# every process that runs it (a poison message) would loop; past a limit it is refused.
DELIVERIES_KEY: Final = "creature-vis:deliveries"
DELIVERIES_TTL_SECONDS: Final = 24 * 3600


def count_delivery(redis: Any, task_id: str, attempt: int, limit: int) -> int:
    """Count one delivery of ``task_id``'s ``attempt``; raise PoisonMessage past ``limit``."""
    key = f"{DELIVERIES_KEY}:{task_id}:{attempt}"
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, DELIVERIES_TTL_SECONDS)
    count = int(pipe.execute()[0])
    if count > limit:
        raise PoisonMessage(
            f"task {task_id} attempt {attempt} delivered {count} times (limit {limit}); refused"
        )
    return count


def forget_deliveries(redis: Any, task_id: str, attempt: int) -> None:
    """Drop the counter of a finished attempt."""
    redis.delete(f"{DELIVERIES_KEY}:{task_id}:{attempt}")
