"""Photos and image files: acknowledge at once, check, and hand over to a worker."""

from __future__ import annotations

import asyncio
import time

from telegram import Document, Message, PhotoSize, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import views
from bot.photos import CheckedPhoto, check_photo
from bot.predictions import show_prediction
from bot.services import Services, get_services
from core.errors import ImageRejected


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Check the photo, then store and classify it in the background and show the result."""
    services = get_services(context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not await _admitted(services, update):
        return
    attachment = message.photo[-1] if message.photo else message.document
    if attachment is None:
        return
    limit = services.settings.images.max_bytes
    if attachment.file_size is not None and attachment.file_size > limit:
        await message.reply_text(views.too_large(limit), do_quote=True)
        return
    sent = time.time()  # a /forget from now on covers this photo too
    status = await message.reply_text(views.LOOKING, do_quote=True)  # which photo, in groups
    checked = await _receive(services, attachment, status)
    if checked is not None:
        coroutine = show_prediction(services, status, checked, user.id, sent)
        context.application.create_task(coroutine, update=update)


async def _receive(
    services: Services, attachment: PhotoSize | Document, status: Message
) -> CheckedPhoto | None:
    """Download and check the photo; on refusal, say why in the status message."""
    limit = services.settings.images.max_bytes
    try:
        data = bytes(await (await attachment.get_file()).download_as_bytearray())
        return await asyncio.to_thread(check_photo, services.settings, data)
    except ImageRejected as exc:
        await status.edit_text(exc.user_message)
    except BadRequest as exc:  # e.g. "file is too big" from the Bot API
        await status.edit_text(views.too_large(limit) if "too big" in str(exc) else views.FAILED)
    return None


async def _admitted(services: Services, update: Update) -> bool:
    assert update.effective_user is not None and update.effective_message is not None  # noqa: S101
    verdict = await services.limiter.check(update.effective_user.id)
    if not verdict.allowed and verdict.first_refusal:
        await update.effective_message.reply_text(
            views.rate_limited(verdict.retry_after), do_quote=True
        )
    return verdict.allowed
