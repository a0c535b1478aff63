"""Everything that is not a photo gets a short, friendly reply and nothing is stored."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import views


async def on_sticker(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers are not photos."""
    await _reply(update, views.STICKER)


async def on_video(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Videos, animations and video notes are not photos."""
    await _reply(update, views.VIDEO)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Files that are not images."""
    await _reply(update, views.DOCUMENT)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text and unknown commands: point to what the bot does."""
    await _reply(update, views.TEXT)


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Voice, locations, contacts and the rest."""
    await _reply(update, views.NOT_A_PHOTO)


async def _reply(update: Update, text: str) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(text, do_quote=True)  # which one, if several
