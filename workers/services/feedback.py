"""Record a person's answer about a prediction, once per delivery key."""

from __future__ import annotations

from typing import Any

from core.schemas import FeedbackRequest
from core.warehouse import Warehouse
from core.warehouse.records import record_feedback


def record_answer(
    warehouse: Warehouse, request: FeedbackRequest, delivery_key: str
) -> dict[str, Any]:
    """Append the answer; ``delivery_key`` names it when the sender gave no feedback_id.

    The key is the task id, which a redelivered message keeps, so the answer is stored once.
    """
    feedback_id = request.feedback_id or delivery_key
    row = record_feedback(
        warehouse,
        interaction_id=request.interaction_id,
        user_id=request.user_id,
        correct=request.correct,
        label=request.label,
        is_admin=request.is_admin,
        channel=request.channel,
        feedback_id=feedback_id,
    )
    return {
        "feedback_id": feedback_id,
        "interaction_id": request.interaction_id,
        "is_correct": bool(row["is_correct"]),
        "label": str(row["label"]),
    }
