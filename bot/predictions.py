"""From a stored photo to a prediction message with buttons, off the handler's path."""

from __future__ import annotations

import asyncio
import logging

from telegram import Message

from bot import views
from bot.callbacks import CallbackRecord
from bot.forgetting import forget_everywhere, forgotten_since
from bot.photos import SOURCE, CheckedPhoto, store_original, user_key
from bot.services import Services
from core.held_images import hold_image
from core.queue import TaskFailed
from core.schemas import ClassifyRequest, ClassifyResult
from core.warehouse.records import new_id

log = logging.getLogger(__name__)
CLASSIFY_TIMEOUT_SECONDS = 120.0


async def show_prediction(
    services: Services, status: Message, checked: CheckedPhoto, user_id: int, sent: float
) -> None:
    """Store the photo while a worker classifies it, then show the prediction with buttons.

    The model input travels with the task, so storing (the original in the store, then its
    images row held in Redis for a worker to write) and classifying run side by side; buttons
    appear once both are done. When
    the user sent /forget after the photo (``sent``), what the worker logged is forgotten too
    and no buttons are shown.
    """
    image_id = checked.photo.sha256
    request = ClassifyRequest(
        interaction_id=new_id(),
        image_id=image_id,
        channel=SOURCE,
        user_id=user_key(user_id),
        chat_id=str(status.chat_id),
        pixels=checked.pixels,
    )
    storing = asyncio.ensure_future(_store(services, checked, user_id))
    try:
        result = await services.tasks.classify(request, CLASSIFY_TIMEOUT_SECONDS)
        await storing
    except TimeoutError:
        log.warning("classification of %s timed out", image_id, extra={"image_id": image_id})
        await _settle(storing)
        await status.edit_text(views.TOO_SLOW)
        return
    except TaskFailed as exc:
        log.error("classification of %s failed: %s", image_id, exc, extra={"image_id": image_id})
        await _settle(storing)
        await status.edit_text(views.FAILED)
        return
    except Exception:
        await _settle(storing)
        await status.edit_text(views.FAILED)  # the queue or the store failed: never hang
        raise  # logged and counted by the error handler
    try:
        await _show(services, status, result, user_id, sent)
    except Exception:
        await status.edit_text(views.FAILED)  # never leave the person at "Looking…"
        raise


async def _store(services: Services, checked: CheckedPhoto, user_id: int) -> None:
    """Store the original (in a thread), then hold its images row for the workers."""
    row = await services.run(store_original, services.store, checked.photo, user_id)
    await hold_image(services.redis, row)


async def _settle(storing: asyncio.Future[None]) -> None:
    """Let a store write finish after the classification failed (its error is logged)."""
    try:
        await storing
    except Exception:
        log.exception("storing a photo failed")


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
        answer=result.answer_set,
    )
    short_id = await services.callbacks.issue(record)
    await status.edit_text(
        views.prediction_text(top3, record.answer),
        reply_markup=views.answer_keyboard(short_id, record.answer),
    )
