"""Async helper behind /retrain: wait for the forced check and report what it decided."""

from __future__ import annotations

import logging
from typing import Any

from celery.result import AsyncResult
from telegram import Bot

from bot.services import Services
from core.queue import TaskFailed

log = logging.getLogger(__name__)
RETRAIN_CHECK_TIMEOUT_SECONDS = 300.0


async def retrain_followup(bot: Bot, services: Services, chat_id: int, result: AsyncResult) -> None:
    """Wait for a forced retrain check and tell the admin what it decided."""
    try:
        value = await services.tasks.wait(result, RETRAIN_CHECK_TIMEOUT_SECONDS)
    except (TimeoutError, TaskFailed) as exc:
        log.warning("retrain check %s: %s", result.id, exc)
        await bot.send_message(chat_id, f"The retrain check did not finish: {exc}")
        return
    await bot.send_message(chat_id, describe_check(value))


def describe_check(value: Any) -> str:
    """Render a retrain-check result for an admin."""
    if isinstance(value, dict):
        fired = value.get("fired")
        rule = value.get("rule") or value.get("reason") or "no rule"
        verdict = "fired: retraining starts" if fired else "did not fire"
        return f"Retrain check {verdict} ({rule})."
    return f"Retrain check finished: {value}"
