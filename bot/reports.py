"""Admin reports read from the warehouse and the registry (blocking; run in a thread)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.errors import CreatureVisError
from core.labels import DISPLAY_NAMES, VALID_LABELS
from core.metrics.summary import format_figures, key_figures
from core.model.handle import open_registry
from core.model.lifecycle import Lifecycle
from core.settings import CurationSettings, Settings
from core.storage import ImageStore
from core.trust import WeekCounts, trust_report
from core.warehouse import Warehouse
from core.warehouse.records import ANSWERS_THAT_COUNT, answer_params, utcnow

FEEDBACK_COUNTS_SQL = f"""
SELECT COUNT(*) AS total, COUNTIF(created_at >= @today) AS today FROM {ANSWERS_THAT_COUNT} AS f
"""  # noqa: S608  (constants)
LAST_CHECK_SQL = """
SELECT created_at, fired, rule FROM retrain_events
WHERE kind = 'check' ORDER BY created_at DESC LIMIT 1
"""
PREDICTIONS_SQL = """
SELECT predicted_label AS label, COUNT(*) AS predictions FROM interactions GROUP BY predicted_label
"""
ANSWERS_SQL = f"""
SELECT predicted_label AS label, COUNT(*) AS answers, COUNTIF(is_correct) AS correct
FROM {ANSWERS_THAT_COUNT} AS f GROUP BY predicted_label
"""  # noqa: S608  (constants)


def production_line(settings: Settings, store: ImageStore) -> str:
    """Name the production model and its held-out accuracy."""
    registry = open_registry(settings, store)
    try:
        version = registry.production()
        if version is None:
            return "Model: none promoted yet"
        accuracy = registry.get(version).metrics.get("accuracy")
    except CreatureVisError as exc:
        return f"Model: unreadable ({exc})"
    shown = "not measured" if accuracy is None else f"{float(accuracy):.1%}"
    return f"Model: {version} (held-out accuracy {shown})"


def status_text(
    settings: Settings, store: ImageStore, warehouse: Warehouse, queues: dict[str, int]
) -> str:
    """The /status report."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    counts = warehouse.query(FEEDBACK_COUNTS_SQL, answer_params(today=today))[0]
    checks = warehouse.query(LAST_CHECK_SQL)
    depth = ", ".join(f"{name} {size}" for name, size in queues.items())
    lines = [
        production_line(settings, store),
        f"Feedback: {counts['today'] or 0} today, {counts['total'] or 0} in total",
        f"Queues: {depth}",
        _last_check(checks[0] if checks else None),
        # The same key figures as `creature-vis status` and the web page's status view.
        format_figures(key_figures(warehouse, rolling_answers=settings.triggers.accuracy_window)),
    ]
    return "\n".join(lines)


def _last_check(row: dict[str, Any] | None) -> str:
    if row is None:
        return "Last retrain check: never"
    when = row["created_at"]
    stamp = when.strftime("%Y-%m-%d %H:%M UTC") if isinstance(when, dt.datetime) else str(when)
    outcome = "fired" if row["fired"] else "did not fire"
    return f"Last retrain check: {stamp}, {outcome} ({row['rule'] or 'no rule'})"


def week_text(week: WeekCounts) -> str:
    """The week's answers by how far they are trusted (``core.trust``)."""
    return (f"This week's answers: {week.trusted} trusted, {week.down_weighted} down-weighted, "
            f"{week.refused} refused")  # fmt: skip


def stats_text(warehouse: Warehouse, section: CurationSettings) -> str:
    """The /stats report: per label, predictions and accuracy; the week's answers by trust."""
    predictions = {r["label"]: int(r["predictions"]) for r in warehouse.query(PREDICTIONS_SQL)}
    answers = {
        r["label"]: (int(r["answers"]), int(r["correct"]))
        for r in warehouse.query(ANSWERS_SQL, answer_params())
    }
    week = trust_report(warehouse, section, utcnow(), limit=0).week
    lines = ["Per label: predictions, accuracy from answers"]
    for label in VALID_LABELS:
        count, correct = answers.get(label, (0, 0))
        accuracy = f"{correct / count:.0%} of {count}" if count else "no answers"
        lines.append(f"{DISPLAY_NAMES[label]}: {predictions.get(label, 0)}, {accuracy}")
    lines.append(week_text(week))
    return "\n".join(lines)


def rollback(
    settings: Settings, store: ImageStore, warehouse: Warehouse, admin: str
) -> tuple[str | None, str]:
    """Move production back one version and log it; return (previous, now)."""
    return Lifecycle(open_registry(settings, store), warehouse).rollback(by=admin)
