"""Photos and image files: acknowledge at once, store, and hand over to a worker."""

from __future__ import annotations

import asyncio

from telegram import Document, PhotoSize, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import views
from bot.photos import store_user_photo
from bot.predictions import show_prediction
from bot.services import Services, get_services
from core.errors import ImageRejected


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the photo, then classify it in the background and show the result."""
    services = get_services(context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not await _admitted(services, update):
        return
    attachment: PhotoSize | Document | None = (
        message.photo[-1] if message.photo else message.document
    )
    if attachment is None:
        return
    limit = services.settings.images.max_bytes
    if attachment.file_size is not None and attachment.file_size > limit:
        await message.reply_text(views.too_large(limit))
        return
    status = await message.reply_text(views.LOOKING)
    try:
        data = bytes(await (await attachment.get_file()).download_as_bytearray())
        store = (services.settings, services.store, services.warehouse, data, user.id)
        stored = await asyncio.to_thread(store_user_photo, *store)
    except ImageRejected as exc:
        await status.edit_text(exc.user_message)
        return
    except BadRequest as exc:  # e.g. "file is too big" from the Bot API
        await status.edit_text(views.too_large(limit) if "too big" in str(exc) else views.FAILED)
        return
    coroutine = show_prediction(services, status, stored.image_id, user.id)
    context.application.create_task(coroutine, update=update)


async def _admitted(services: Services, update: Update) -> bool:
    assert update.effective_user is not None and update.effective_message is not None  # noqa: S101
    verdict = await services.limiter.check(update.effective_user.id)
    if not verdict.allowed and verdict.first_refusal:
        await update.effective_message.reply_text(views.rate_limited(verdict.retry_after))
    return verdict.allowed
