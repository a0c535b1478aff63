"""Turning a button press into an answer recorded by a worker."""

from __future__ import annotations

from telegram import CallbackQuery

from bot import views
from bot.callbacks import ButtonPress, CallbackRecord, parse_data
from bot.photos import SOURCE, user_key
from bot.services import Services
from core.labels import VALID_LABELS
from core.queue import TaskFailed
from core.schemas import FeedbackRequest
from core.warehouse.records import new_id

FEEDBACK_TIMEOUT_SECONDS = 60.0


async def resolve(
    services: Services, query: CallbackQuery
) -> tuple[ButtonPress, CallbackRecord] | str:
    """Return the press and its record, or the refusal to show when it is not acceptable."""
    press = parse_data(query.data if isinstance(query.data, str) else None)
    record = None if press is None else await services.callbacks.get(press.short_id)
    if press is None or record is None or not _same_message(query, record):
        return views.EXPIRED
    if press.label_index is not None and press.label_index >= len(VALID_LABELS):
        return views.EXPIRED
    if query.from_user.id != record.user_id:
        return views.NOT_YOURS
    return press, record


def _same_message(query: CallbackQuery, record: CallbackRecord) -> bool:
    message = query.message
    return message is not None and (message.chat.id, message.message_id) == (
        record.chat_id,
        record.message_id,
    )


async def apply(
    services: Services, query: CallbackQuery, press: ButtonPress, record: CallbackRecord
) -> None:
    """Show the label grid, go back, or record the answer and say what was recorded."""
    if press.kind == "no":
        await query.edit_message_reply_markup(views.labels_keyboard(press.short_id))
        return
    if press.kind == "cx":
        await query.edit_message_reply_markup(views.answer_keyboard(press.short_id, record.answer))
        return
    label = VALID_LABELS[press.label_index] if press.label_index is not None else None
    request = FeedbackRequest(
        interaction_id=record.interaction_id,
        user_id=user_key(record.user_id),
        correct=press.kind == "ok",
        label=label,
        is_admin=services.is_admin(record.user_id),
        channel=SOURCE,
        feedback_id=new_id(),  # one answer, however often the task is delivered
    )
    try:
        row = await services.tasks.record_feedback(request, FEEDBACK_TIMEOUT_SECONDS)
    except TaskFailed as exc:
        await query.edit_message_text(exc.user_message)
        return
    except TimeoutError:
        await query.edit_message_text(
            views.NOT_RECORDED, reply_markup=views.answer_keyboard(press.short_id, record.answer)
        )
        return
    text = views.recorded_text(record.top3, record.answer, str(row["label"]),
                               bool(row["is_correct"]))  # fmt: skip
    await query.edit_message_text(
        text, reply_markup=views.answer_keyboard(press.short_id, record.answer)
    )
