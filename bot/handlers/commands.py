"""Everyone's commands: /start, /help and /forget."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import views
from bot.forgetting import forget_everywhere
from bot.services import get_services


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot does, the labels it knows and what it keeps."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(views.help_text())


async def on_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete the user's photos, predictions and answers, and confirm with counts."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    counts = await forget_everywhere(get_services(context), user.id)
    await message.reply_text(views.forgotten(counts))
