"""Inline buttons under a prediction: ✅, ❌, a label, or Cancel."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.feedback import apply, resolve
from bot.services import get_services


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press at once; refuse forged, stale or someone else's presses."""
    query = update.callback_query
    if query is None:
        return
    services = get_services(context)
    outcome = await resolve(services, query)
    if isinstance(outcome, str):
        await query.answer(outcome, show_alert=True)
        return
    await query.answer()
    press, record = outcome
    await apply(services, query, press, record)
