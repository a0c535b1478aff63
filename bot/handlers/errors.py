"""The one error handler: log with the update, tell the user something short."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import views
from bot.services import SERVICES_KEY, Services
from core.errors import CreatureVisError
from core.metrics import open_sink
from core.metrics.names import REQUEST_ERRORS

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure; reply with the domain error's message or a generic apology."""
    error = context.error
    log.error("update %s failed", getattr(update, "update_id", None), exc_info=error)
    await _count(context, type(error).__name__)
    if not isinstance(update, Update) or update.effective_message is None:
        return
    text = error.user_message if isinstance(error, CreatureVisError) else views.OOPS
    try:
        await update.effective_message.reply_text(text, do_quote=True)  # the message it is about
    except TelegramError:
        log.warning("could not tell the user about the failure", exc_info=True)


async def _count(context: ContextTypes.DEFAULT_TYPE, error: str) -> None:
    """Record the failure for the system-health dashboard; never fails the handler."""
    services = context.application.bot_data.get(SERVICES_KEY)
    if not isinstance(services, Services):
        return

    def write() -> None:
        sink = open_sink(services.settings, services.warehouse)
        sink.record(REQUEST_ERRORS, 1, {"component": "bot", "error": error})
        sink.flush()

    try:
        await services.run(write)
    except Exception:  # counting is best effort
        log.warning("could not record the error metric", exc_info=True)
