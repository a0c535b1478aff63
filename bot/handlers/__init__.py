"""Handler registration: one place that maps updates to handlers."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.handlers.admin import on_retrain, on_rollback, on_stats, on_status
from bot.handlers.buttons import on_button
from bot.handlers.commands import on_forget, on_help
from bot.handlers.errors import on_error
from bot.handlers.photos import on_photo
from bot.handlers.rejects import on_document, on_other, on_sticker, on_text, on_video

# New messages only: an edited caption must not classify the same photo again.
NEW = filters.UpdateType.MESSAGE
COMMANDS = {
    "start": "what I do",
    "help": "what I do, the animals I know, privacy",
    "forget": "delete your photos and answers",
}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Attach every handler and the error handler to ``application``."""
    application.add_handlers([
        CommandHandler(["start", "help"], on_help, filters=NEW),
        CommandHandler("forget", on_forget, filters=NEW),
        CommandHandler("status", on_status, filters=NEW),
        CommandHandler("retrain", on_retrain, filters=NEW),
        CommandHandler("rollback", on_rollback, filters=NEW),
        CommandHandler("stats", on_stats, filters=NEW),
        CallbackQueryHandler(on_button),
        MessageHandler(NEW & (filters.PHOTO | filters.Document.IMAGE), on_photo),
        MessageHandler(NEW & filters.Sticker.ALL, on_sticker),
        MessageHandler(NEW & (filters.VIDEO | filters.ANIMATION | filters.VIDEO_NOTE), on_video),
        MessageHandler(NEW & filters.Document.ALL, on_document),
        MessageHandler(NEW & (filters.TEXT | filters.COMMAND), on_text),
        MessageHandler(NEW & ~filters.StatusUpdate.ALL, on_other),
    ])  # fmt: skip
    application.add_error_handler(on_error)
