"""``POST /v1/forget``: the page's "Forget me": delete this browser session's photos and answers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from core.errors import NoSession
from core.forget import forget_person
from model_server.routes.common import error_responses
from model_server.schemas import ForgetResponse
from model_server.state import Admitted, AppState, CurrentCaller, ServerState, new_session

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post(
    "/forget",
    response_model=ForgetResponse,
    responses=error_responses(400, 401, 429),
    summary="Forget this session's photos and answers",
)
async def forget(
    state: AppState, caller: CurrentCaller, _: Admitted, request: Request, response: Response
) -> ForgetResponse:
    """Delete the session's photos, features, dataset examples, predictions and answers.

    The browser gets a new session id too, so nothing it sends next is linked to the old one.
    A key holder is forgotten the same way; an anonymous API caller has nobody to forget.
    """
    if caller.holder is None:
        raise NoSession("no session cookie and no API key")
    counts = await run_in_threadpool(forget_everywhere, state, caller.user_id)
    if caller.channel == "web":
        new_session(request, response)
    return ForgetResponse(
        photos=counts["photos"],
        predictions=counts["interactions"],
        answers=counts["feedback"],
        message=(
            f"Done. We deleted {counts['photos']} photo(s), {counts['interactions']} "
            f"prediction(s) and {counts['feedback']} answer(s). They won't be used for training."
        ),
    )


def forget_everywhere(state: ServerState, user_id: str) -> dict[str, int]:
    """Forget a web session or key holder, their predictions still in the log included.

    The log is written out first, so its rows are deleted with the rest; whatever the person
    sent meanwhile the log forgets again once written. There is no Redis to clear.
    """
    state.prediction_log.flush()
    return forget_person(state.store, state.warehouse, user_id, [state.features.cache.backbone])
