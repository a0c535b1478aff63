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

COMMANDS = {
    "start": "what I do",
    "help": "what I do, the animals I know, privacy",
    "forget": "delete your photos and answers",
}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Attach every handler and the error handler to ``application``."""
    application.add_handlers([
        CommandHandler(["start", "help"], on_help),
        CommandHandler("forget", on_forget),
        CommandHandler("status", on_status),
        CommandHandler("retrain", on_retrain),
        CommandHandler("rollback", on_rollback),
        CommandHandler("stats", on_stats),
        CallbackQueryHandler(on_button),
        MessageHandler(filters.PHOTO | filters.Document.IMAGE, on_photo),
        MessageHandler(filters.Sticker.ALL, on_sticker),
        MessageHandler(filters.VIDEO | filters.ANIMATION | filters.VIDEO_NOTE, on_video),
        MessageHandler(filters.Document.ALL, on_document),
        MessageHandler(filters.TEXT | filters.COMMAND, on_text),
        MessageHandler(filters.ALL & ~filters.StatusUpdate.ALL, on_other),
    ])  # fmt: skip
    application.add_error_handler(on_error)
