"""``POST /v1/feedback``: a person says the prediction was right, or names the right label."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from core.errors import IdentityInBody, InvalidLabel
from core.labels import DISPLAY_NAMES, is_valid_label
from core.warehouse import Row
from core.warehouse.records import record_feedback
from model_server.errors import AnswerMissing
from model_server.routes.common import error_responses
from model_server.schemas import FeedbackBody, FeedbackResponse
from model_server.state import Admitted, AppState, CurrentCaller

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses=error_responses(401, 404, 422, 429),
    summary="Answer a prediction",
)
async def create_feedback(
    body: FeedbackBody, state: AppState, caller: CurrentCaller, _: Admitted
) -> FeedbackResponse:
    """Record an answer; a later answer by the same person replaces the earlier one.

    Who answers comes from the API key or the page's session, never from the body.
    """
    if body.user_id is not None:
        raise IdentityInBody("a body named its user")
    correct = body.correct is True
    if not correct:
        if body.label is None:
            raise AnswerMissing("no answer given")
        if not is_valid_label(body.label):
            raise InvalidLabel(f"unknown label {body.label!r}")

    def record() -> Row:
        # An answer can come before the prediction log has written its interaction.
        state.prediction_log.settle(body.interaction_id)
        return record_feedback(
            state.warehouse,
            interaction_id=body.interaction_id,
            user_id=caller.user_id,
            correct=correct,
            label=None if correct else body.label,
            is_admin=caller.admin,
            channel=caller.channel,
        )

    row = await run_in_threadpool(record)
    is_correct = bool(row["is_correct"])
    state.metrics.feedback.labels(outcome="correct" if is_correct else "incorrect").inc()
    label = str(row["label"])
    message = (
        "Thanks! Glad we got it right."
        if is_correct
        else f"Thanks! We'll learn that this is a {DISPLAY_NAMES[label].lower()}."
    )
    return FeedbackResponse(
        feedback_id=str(row["feedback_id"]),
        interaction_id=body.interaction_id,
        is_correct=is_correct,
        label=label,
        predicted_label=str(row["predicted_label"]),
        message=message,
    )
