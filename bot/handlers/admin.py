"""Admin commands: /status, /retrain, /rollback and /stats (others are refused politely)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot import reports, views
from bot.admin import retrain_followup
from bot.photos import user_key
from bot.services import get_services
from core.errors import ModelArtifactError

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def admin_only(handler: Handler) -> Handler:
    """Run ``handler`` for admins; tell anyone else politely that it is not for them."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if get_services(context).is_admin(user.id if user else None):
            await handler(update, context)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(views.ADMINS_ONLY)

    return guarded


@admin_only
async def on_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Production model, feedback counts, queue depth, last retrain check."""
    s = get_services(context)
    queues = await s.tasks.queue_depths()
    text = await s.run(reports.status_text, s.settings, s.store, s.warehouse, queues)
    await _reply(update, text)


@admin_only
async def on_retrain(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Force a retrain check that ignores the thresholds; report its outcome when it comes."""
    services = get_services(context)
    result = await services.tasks.check_retrain(force=True)
    await _reply(update, "Forced a retrain check. I'll tell you what it decides.")
    chat_id = update.effective_chat.id if update.effective_chat else None
    if chat_id is not None:
        context.application.create_task(retrain_followup(context.bot, services, chat_id, result))


@admin_only
async def on_rollback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Move production back to the previous model version."""
    s = get_services(context)
    who = user_key(update.effective_user.id) if update.effective_user else "telegram"
    try:
        before, after = await s.run(reports.rollback, s.settings, s.store, s.warehouse, who)
    except ModelArtifactError as exc:
        await _reply(update, f"Nothing changed: {exc}.")
        return
    await _reply(update, f"Rolled back: production is now {after} (was {before}).")


@admin_only
async def on_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The week's answers by trust; per label, predictions and accuracy from answers."""
    services = get_services(context)
    text = await services.run(reports.stats_text, services.warehouse, services.settings.curation)
    await _reply(update, text)


async def _reply(update: Update, text: str) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(text)
