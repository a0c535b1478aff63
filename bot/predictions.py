"""From a stored photo to a prediction message with buttons, off the handler's path."""

from __future__ import annotations

import logging

from telegram import Message

from bot import views
from bot.callbacks import CallbackRecord
from bot.forgetting import forget_everywhere, forgotten_since
from bot.photos import SOURCE, user_key
from bot.services import Services
from core.queue import TaskFailed
from core.schemas import ClassifyRequest, ClassifyResult
from core.warehouse.records import new_id

log = logging.getLogger(__name__)
CLASSIFY_TIMEOUT_SECONDS = 120.0


async def show_prediction(
    services: Services, status: Message, image_id: str, user_id: int, sent: float
) -> None:
    """Classify on a worker, then turn the "Looking…" message into the prediction.

    When the user sent /forget after the photo (``sent``), what the worker logged is forgotten
    too and no buttons are shown.
    """
    request = ClassifyRequest(
        interaction_id=new_id(),
        image_id=image_id,
        channel=SOURCE,
        user_id=user_key(user_id),
        chat_id=str(status.chat_id),
    )
    try:
        result = await services.tasks.classify(request, CLASSIFY_TIMEOUT_SECONDS)
    except TimeoutError:
        log.warning("classification of %s timed out", image_id)
        await status.edit_text(views.TOO_SLOW)
        return
    except TaskFailed as exc:
        log.error("classification of %s failed: %s", image_id, exc)
        await status.edit_text(views.FAILED)
        return
    except Exception:
        await status.edit_text(views.FAILED)  # the queue could not be reached: never hang
        raise  # logged and counted by the error handler
    try:
        await _show(services, status, result, user_id, sent)
    except Exception:
        await status.edit_text(views.FAILED)  # never leave the person at "Looking…"
        raise


async def _show(
    services: Services, status: Message, result: ClassifyResult, user_id: int, sent: float
) -> None:
    if await forgotten_since(services, user_id, sent):
        await forget_everywhere(services, user_id)
        await status.edit_text(views.FORGOTTEN_MEANWHILE)
        return
    top3 = [(score.label, score.probability) for score in result.top3]
    record = CallbackRecord(
        interaction_id=result.interaction_id,
        user_id=user_id,
        chat_id=status.chat_id,
        message_id=status.message_id,
        model_version=result.model_version,
        top3=top3,
    )
    short_id = await services.callbacks.issue(record)
    await status.edit_text(
        views.prediction_text(top3), reply_markup=views.verdict_keyboard(short_id)
    )
