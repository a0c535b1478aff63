"""Record a person's answer about a prediction: once, and never lost once it was accepted.

The answer's interaction is read from the warehouse, written there first if it is still
pending in Redis, or, when the warehouse does not show it yet, taken from the row Redis
holds for it. An answer whose interaction exists but that the warehouse cannot take now
(its file stays locked, the task runs out of time) is parked in Redis, as durable as the
tasks themselves, and written by the worker's flusher on a later turn. Only an answer to an
interaction that exists nowhere (forged, forgotten) is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import redis
from celery.exceptions import SoftTimeLimitExceeded

from core.errors import UnknownInteraction
from core.queue import FORGOTTEN_INTERACTIONS_KEY, PARKED_ANSWERS_KEY
from core.schemas import FeedbackRequest
from core.warehouse import Row, Warehouse
from core.warehouse.records import feedback_row, get_interaction, utcnow
from workers.infrastructure.interaction_log import InteractionLog
from workers.transient import TRANSIENT_ERRORS

log = logging.getLogger(__name__)
# What may keep the warehouse from taking an answer now but not later.
_NOT_NOW = (*TRANSIENT_ERRORS, SoftTimeLimitExceeded)
REPLAY_BATCH = 500


class AnswerLog:
    """Writes answers to the warehouse, parking those it cannot write yet."""

    def __init__(
        self, client: redis.Redis, warehouse: Warehouse, interactions: InteractionLog
    ) -> None:
        self.redis = client
        self.warehouse = warehouse
        self.interactions = interactions

    def record(self, request: FeedbackRequest, delivery_key: str) -> dict[str, Any]:
        """Record the answer (or park it); ``delivery_key`` names it when it has no id.

        The key is the task id, which a redelivered message keeps, so the answer is stored
        once. Raise UnknownInteraction when its interaction exists nowhere.
        """
        answer = request.model_copy(update={"feedback_id": request.feedback_id or delivery_key})
        created_at = utcnow()
        try:
            row = self._write(answer, created_at)
        except _NOT_NOW as exc:
            held = self.interactions.held(answer.interaction_id)
            if held is None:
                raise  # cannot tell whether it exists: the task is retried
            row = _row(held, answer, created_at)  # validates before accepting it
            self._park(answer, created_at)
            log.warning("answer %s parked for the warehouse: %r", row["feedback_id"], exc,
                        extra={"interaction_id": answer.interaction_id})  # fmt: skip
        return {
            "feedback_id": row["feedback_id"],
            "interaction_id": answer.interaction_id,
            "is_correct": bool(row["is_correct"]),
            "label": str(row["label"]),
        }

    def parked(self) -> int:
        """Answers waiting for the warehouse."""
        return int(self.redis.hlen(PARKED_ANSWERS_KEY))

    def replay(self) -> int:
        """Write parked answers (the flusher calls this each turn); return how many.

        Stops at the first one the warehouse still cannot take; drops (with an error) one
        whose interaction no longer exists anywhere.
        """
        written: list[Row] = []
        for feedback_id, data in list(self.redis.hgetall(PARKED_ANSWERS_KEY).items())[
            :REPLAY_BATCH
        ]:
            saved = json.loads(data)
            created_at = dt.datetime.fromisoformat(saved.pop("created_at"))
            answer = FeedbackRequest(**saved)
            try:
                written.append(self._write(answer, created_at))
            except UnknownInteraction:
                log.error("dropping parked answer %s: its interaction is gone", feedback_id,
                          extra={"interaction_id": answer.interaction_id})  # fmt: skip
            except _NOT_NOW:
                break
            self.redis.hdel(PARKED_ANSWERS_KEY, feedback_id)
        self._delete_forgotten(written)
        return len(written)

    def _write(self, answer: FeedbackRequest, created_at: dt.datetime) -> Row:
        self.interactions.flush_one(answer.interaction_id)  # the answer refers to it
        interaction = get_interaction(self.warehouse, answer.interaction_id)
        if interaction is None:
            # Not in the warehouse, though Redis still holds it: write the row held there
            # (idempotent), so the answer never refers to an interaction that is missing.
            interaction = self.interactions.held(answer.interaction_id)
            if interaction is None:
                raise UnknownInteraction(answer.interaction_id)
            self.warehouse.insert("interactions", [interaction])
        row = _row(interaction, answer, created_at)
        self.warehouse.insert("feedback", [row])
        return row

    def _park(self, answer: FeedbackRequest, created_at: dt.datetime) -> None:
        body = {**answer.model_dump(mode="json"), "created_at": created_at.isoformat()}
        self.redis.hsetnx(PARKED_ANSWERS_KEY, str(answer.feedback_id), json.dumps(body))

    def _delete_forgotten(self, rows: list[Row]) -> None:
        """Delete answers whose person asked to be forgotten while they were parked."""
        if not rows:
            return
        flags = self.redis.smismember(
            FORGOTTEN_INTERACTIONS_KEY, [str(row["interaction_id"]) for row in rows]
        )
        late = [str(row["feedback_id"]) for row, flag in zip(rows, flags, strict=True) if flag]
        if late:
            self.warehouse.execute(
                "DELETE FROM feedback WHERE feedback_id IN UNNEST(@ids)", {"ids": late}
            )


def _row(interaction: Row, answer: FeedbackRequest, created_at: dt.datetime) -> Row:
    return feedback_row(
        interaction,
        user_id=answer.user_id,
        correct=answer.correct,
        label=answer.label,
        is_admin=answer.is_admin,
        channel=answer.channel,
        feedback_id=answer.feedback_id,
        created_at=created_at,
    )
