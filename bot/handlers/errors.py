"""The one error handler: log with the update, tell the user something short."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import views
from core.errors import CreatureVisError

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure; reply with the domain error's message or a generic apology."""
    error = context.error
    log.error("update %s failed", getattr(update, "update_id", None), exc_info=error)
    if not isinstance(update, Update) or update.effective_message is None:
        return
    text = error.user_message if isinstance(error, CreatureVisError) else views.OOPS
    try:
        await update.effective_message.reply_text(text)
    except TelegramError:
        log.warning("could not tell the user about the failure", exc_info=True)
