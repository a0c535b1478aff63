"""The Celery beat schedule, built from settings (periods in ``settings.schedule``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import tasks
from core.queue import ROUTES
from core.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Return Celery's ``beat_schedule``: retrain check and photo acquisition."""
    periods = {
        "check-retrain": (tasks.CHECK_RETRAIN, settings.schedule.check_retrain_seconds),
        "acquire-photos": (tasks.ACQUIRE_PHOTOS, settings.schedule.acquire_photos_seconds),
    }
    return {
        entry: {
            "task": name,
            "schedule": timedelta(seconds=seconds),
            # A run nobody picked up before the next one is due is dropped, not stacked.
            "options": {"queue": ROUTES[name], "expires": float(seconds)},
        }
        for entry, (name, seconds) in periods.items()
    }


def describe_schedule(settings: Settings) -> list[dict[str, Any]]:
    """Return the schedule as plain rows: entry, task, period in seconds, queue."""
    return [
        {
            "entry": entry,
            "task": spec["task"],
            "every_seconds": int(spec["schedule"].total_seconds()),
            "queue": spec["options"]["queue"],
        }
        for entry, spec in beat_schedule(settings).items()
    ]
