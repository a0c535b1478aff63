"""Celery tasks: parse the message, guard deliveries, call a service, return JSON.

Every task is idempotent (keyed by interaction id, feedback id or image sha256), so late
acknowledgement and redelivery never write twice. Only transient errors are retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from core import tasks as names
from core.logs import log_context
from core.queue import (
    InvalidTaskPayload,
    PoisonMessage,
    count_delivery,
    forget_deliveries,
)
from core.schemas import ClassifyRequest, FeedbackRequest
from workers.context import ContextHolder, WorkerContext
from workers.options import WorkerOptions
from workers.services import classify
from workers.services.acquisition import AcquireRequest, Library, acquire_from_settings
from workers.transient import TRANSIENT_ERRORS

if TYPE_CHECKING:
    from celery import Celery, Task

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

_COMMON = {
    "bind": True,
    "typing": False,  # payload checks are ours: a bad message fails clearly, never retries
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


def parse(model: type[M], payload: dict[str, Any], task: str) -> M:
    """Validate a message; a bad one raises InvalidTaskPayload (logged, never retried)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        log.error("refusing a %s message with a bad payload: %s", task, exc)
        raise InvalidTaskPayload(f"bad {task} payload: {exc.errors(include_url=False)}") from exc


def begin(task: Task, holder: ContextHolder, options: WorkerOptions) -> tuple[WorkerContext, int]:
    """Return the process context and this attempt's delivery count (refusing a poison one)."""
    context = holder.get()
    request = task.request
    try:
        count = count_delivery(context.redis, request.id, request.retries, options.max_deliveries)
    except PoisonMessage as exc:
        # Failing (not retrying) acknowledges the message and stores the error for the sender.
        log.error("refusing %s[%s]: %s", task.name, request.id, exc)
        raise
    return context, count


def register(app: Celery, holder: ContextHolder, options: WorkerOptions) -> None:
    """Register the tasks of ``core.tasks`` a worker runs (not the training queue's) on ``app``."""

    def task(name: str, body: Callable[..., Any], **extra: Any) -> None:
        def run(self: Task, **payload: Any) -> Any:
            with log_context(task_id=self.request.id, **_ids(payload)):
                context, deliveries = begin(self, holder, options)
                result = body(self, context, payload, deliveries)
                forget_deliveries(context.redis, self.request.id, self.request.retries)
                return result

        run.__name__ = run.__qualname__ = name.rsplit(".", 1)[-1]
        app.task(name=name, **{**_COMMON, **extra})(run)

    task(names.CLASSIFY, _classify, soft_time_limit=30, time_limit=60)
    task(
        names.RECORD_FEEDBACK,
        _record_feedback,
        # Well past the 30 s a warehouse call waits for the file: an answer the warehouse
        # cannot take is parked after that wait, never cut off by the time limit meanwhile.
        soft_time_limit=120,
        time_limit=150,
        # Retried only when the interaction's existence cannot be told yet; an answer to an
        # interaction that exists is parked instead of failing (services/feedback.py).
        autoretry_for=TRANSIENT_ERRORS,
        retry_backoff=1,
        retry_backoff_max=8,
        max_retries=3,
    )
    task(names.ACQUIRE_PHOTOS, _acquire_photos, soft_time_limit=3300, time_limit=3600)


def _ids(payload: dict[str, Any]) -> dict[str, str | None]:
    """The ids of a task's payload worth putting on its log lines."""
    return {key: str(payload[key]) if payload.get(key) else None
            for key in ("interaction_id", "image_id")}  # fmt: skip


def _classify(task: Task, context: WorkerContext, payload: dict[str, Any], deliveries: int) -> Any:
    request = parse(ClassifyRequest, payload, names.CLASSIFY)
    # A message delivered again may have died with photos it was batched with: alone now,
    # so a photo that kills its worker is refused without taking the others down with it.
    answer = classify.classify_photo(context, request, batch=deliveries == 1)
    return answer.model_dump(mode="json")


def _record_feedback(
    task: Task, context: WorkerContext, payload: dict[str, Any], deliveries: int
) -> Any:
    request = parse(FeedbackRequest, payload, names.RECORD_FEEDBACK)
    return context.answers.record(request, delivery_key=task.request.id)


def _acquire_photos(
    task: Task, context: WorkerContext, payload: dict[str, Any], deliveries: int
) -> Any:
    request = parse(AcquireRequest, payload, names.ACQUIRE_PHOTOS)
    library = Library(context.store, context.warehouse, context.settings.images)
    return acquire_from_settings(context.settings, library, request).as_dict()
