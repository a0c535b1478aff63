"""Domain reads and writes on the warehouse, each written once in BigQuery SQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import InvalidLabel, UnknownInteraction
from core.labels import VALID_LABELS, is_valid_label
from core.warehouse.base import Row, Warehouse

# The answer that counts, defined once: each person's latest answer about a prediction
# among those given before @until (older ones stay stored). Every query over answers reads
# FROM this; a lower time bound goes on the result (``WHERE created_at >= @since``), which
# picks the same answers as bounding the feedback first, while an upper bound must come
# first (an answer replaced after @until still counted then). Parameters: ``answer_params``.
ANSWERS_THAT_COUNT = """(
  SELECT * FROM feedback
  WHERE created_at < @until
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY interaction_id, user_id ORDER BY created_at DESC, feedback_id DESC) = 1
)"""
FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
EFFECTIVE_FEEDBACK_SQL = f"""
SELECT f.* FROM {ANSWERS_THAT_COUNT} AS f
WHERE f.created_at >= @since
"""  # noqa: S608  (constants, no user input)


# A version's latest predictions shown to people before @until: their top probabilities as
# served (calibrated once the version has a calibration), newest first, at most @limit.
RECENT_CONFIDENCES_SQL = """
SELECT predicted_probability FROM interactions
WHERE model_version = @version AND created_at < @until AND predicted_probability IS NOT NULL
ORDER BY created_at DESC, interaction_id DESC
LIMIT @limit
"""


def answer_params(until: dt.datetime | None = None, **params: Any) -> dict[str, Any]:
    """Parameters of a query over ``ANSWERS_THAT_COUNT``, plus ``params``.

    Its answers are those given before ``until`` (by default, all of them).
    """
    return {"until": until or FAR_FUTURE, **params}


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    """Return a fresh random id (32 hex digits)."""
    return uuid.uuid4().hex


def interaction_row(
    *,
    interaction_id: str,
    channel: str,
    image_id: str,
    model_version: str,
    top3: Sequence[tuple[str, float]],
    probabilities: Sequence[float] | None = None,
    user_id: str | None = None,
    chat_id: str | None = None,
    latency_ms: float | None = None,
    shadow: tuple[str, str] | None = None,
    created_at: dt.datetime | None = None,
    answer: Sequence[str] | None = None,
) -> Row:
    """Return the interactions row of one prediction shown to a person."""
    return {
        "interaction_id": interaction_id,
        "created_at": created_at or utcnow(),
        "user_id": user_id,
        "channel": channel,
        "chat_id": chat_id,
        "image_id": image_id,
        "model_version": model_version,
        "predicted_label": top3[0][0],
        "predicted_probability": float(top3[0][1]),
        "top3_json": json.dumps([[label, round(float(p), 6)] for label, p in top3]),
        "probabilities_json": json.dumps([round(float(p), 6) for p in probabilities])
        if probabilities is not None
        else None,
        "latency_ms": latency_ms,
        "shadow_version": shadow[0] if shadow else None,
        "shadow_label": shadow[1] if shadow else None,
        "answer_json": json.dumps(list(answer)) if answer else None,
    }


def record_interaction(warehouse: Warehouse, row: Row) -> bool:
    """Log an ``interaction_row``; return False when it was already logged."""
    return warehouse.insert("interactions", [row]) == 1


def record_interactions(warehouse: Warehouse, rows: Sequence[Row]) -> int:
    """Log several ``interaction_row``s in one insert; return how many were new."""
    return warehouse.insert("interactions", rows) if rows else 0


def get_interaction(warehouse: Warehouse, interaction_id: str) -> Row | None:
    """Return the interaction row, or None."""
    rows = warehouse.query(
        "SELECT * FROM interactions WHERE interaction_id = @id LIMIT 1", {"id": interaction_id}
    )
    return rows[0] if rows else None


def record_feedback(
    warehouse: Warehouse,
    *,
    interaction_id: str,
    user_id: str,
    correct: bool,
    label: str | None = None,
    is_admin: bool = False,
    channel: str | None = None,
    feedback_id: str | None = None,
) -> Row:
    """Append an answer about a prediction; a later answer by the same user supersedes it.

    ``label`` is the right label when ``correct`` is False; raise InvalidLabel or
    UnknownInteraction for answers that cannot be recorded.
    """
    interaction = get_interaction(warehouse, interaction_id)
    if interaction is None:
        raise UnknownInteraction(interaction_id)
    row = feedback_row(
        interaction,
        user_id=user_id,
        correct=correct,
        label=label,
        is_admin=is_admin,
        channel=channel,
        feedback_id=feedback_id,
    )
    warehouse.insert("feedback", [row])
    return row


def feedback_row(
    interaction: Mapping[str, Any],
    *,
    user_id: str,
    correct: bool,
    label: str | None = None,
    is_admin: bool = False,
    channel: str | None = None,
    feedback_id: str | None = None,
    created_at: dt.datetime | None = None,
) -> Row:
    """Return the feedback row of an answer about ``interaction`` (raise InvalidLabel)."""
    predicted = str(interaction["predicted_label"])
    if correct:
        label = predicted
    elif label is None or not is_valid_label(label):
        raise InvalidLabel(f"{label!r} is not one of {', '.join(VALID_LABELS)}")
    return {
        "feedback_id": feedback_id or new_id(),
        "created_at": created_at or utcnow(),
        "interaction_id": interaction["interaction_id"],
        "user_id": user_id,
        "is_correct": bool(correct or label == predicted),
        "label": label,
        "predicted_label": predicted,
        "model_version": interaction["model_version"],
        "channel": channel or interaction["channel"],
        "is_admin": is_admin,
    }


def effective_feedback(warehouse: Warehouse, since: dt.datetime | None = None) -> list[Row]:
    """Return the answer that counts for each (interaction, user), oldest first."""
    since = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    rows = warehouse.query(EFFECTIVE_FEEDBACK_SQL, answer_params(since=since))
    return sorted(rows, key=lambda row: (row["created_at"], row["feedback_id"]))


def recent_confidences(
    warehouse: Warehouse, *, version: str, limit: int, until: dt.datetime | None = None
) -> list[float]:
    """Return the top probabilities of ``version``'s latest ``limit`` predictions, newest first."""
    rows = warehouse.query(
        RECENT_CONFIDENCES_SQL, {"version": version, "limit": limit, "until": until or FAR_FUTURE}
    )
    return [float(row["predicted_probability"]) for row in rows]


def record_event(
    warehouse: Warehouse,
    kind: str,
    *,
    rule: str | None = None,
    fired: bool | None = None,
    model_version: str | None = None,
    dataset_version: str | None = None,
    details: dict[str, Any] | None = None,
) -> Row:
    """Append a retrain_events row."""
    row = {
        "event_id": new_id(),
        "created_at": utcnow(),
        "kind": kind,
        "fired": fired,
        "rule": rule,
        "model_version": model_version,
        "dataset_version": dataset_version,
        "details_json": json.dumps(details or {}, default=str, sort_keys=True),
    }
    warehouse.insert("retrain_events", [row])
    return row


def interaction_ids(warehouse: Warehouse, user_id: str) -> list[str]:
    """Return the ids of a person's interactions in the warehouse."""
    rows = warehouse.query(
        "SELECT interaction_id FROM interactions WHERE user_id = @user", {"user": user_id}
    )
    return [str(row["interaction_id"]) for row in rows]


def forget_user(warehouse: Warehouse, user_id: str) -> dict[str, int]:
    """Delete a person's feedback, interactions and image rows; return counts per table."""
    params = {"user": user_id}
    return {
        "feedback": warehouse.execute("DELETE FROM feedback WHERE user_id = @user", params),
        "interactions": warehouse.execute("DELETE FROM interactions WHERE user_id = @user", params),
        "images": warehouse.execute("DELETE FROM images WHERE user_id = @user", params),
    }
