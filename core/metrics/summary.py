"""Key figures for `creature-vis status`, the web status view and the bot's /status.

The same warehouse SQL as the exporter (see ``aggregates``), so the local view and Grafana
agree without Grafana running.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from core.metrics import aggregates
from core.metrics.aggregates import Window
from core.warehouse import Warehouse

LATENCY_SQL = """
SELECT COUNT(*) AS predictions,
  APPROX_QUANTILES(latency_ms, 100)[OFFSET(50)] AS p50,
  APPROX_QUANTILES(latency_ms, 100)[OFFSET(99)] AS p99
FROM interactions
WHERE created_at >= @since AND created_at < @until
"""

LAST_EVENT_SQL = """
SELECT created_at, kind, rule, fired, model_version
FROM retrain_events
ORDER BY created_at DESC, event_id DESC
LIMIT 1
"""


@dataclass(frozen=True)
class KeyFigures:
    """What happened in the last ``hours`` hours, plus rolling accuracy."""

    since: dt.datetime
    until: dt.datetime
    predictions: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    answers: int
    incorrect: int
    rolling_accuracy: float | None
    rolling_answers: int
    rolling_by_version: dict[str, float] = field(default_factory=dict)
    photos_by_source: dict[str, int] = field(default_factory=dict)
    retrain_events: dict[str, int] = field(default_factory=dict)
    last_retrain_event: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (times as ISO strings)."""
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        if self.last_retrain_event is not None:
            event = dict(self.last_retrain_event)
            event["created_at"] = str(event["created_at"])
            data["last_retrain_event"] = event
        return data


def key_figures(
    warehouse: Warehouse,
    *,
    now: dt.datetime | None = None,
    hours: int = 24,
    rolling_answers: int = 200,
) -> KeyFigures:
    """Compute the key figures over ``[now - hours, now)``."""
    until = now or dt.datetime.now(dt.UTC)
    since = until - dt.timedelta(hours=hours)
    window = Window(since, until, 3600)
    latency = warehouse.query(LATENCY_SQL, {"since": since, "until": until})[0]
    answered = aggregates.answers(warehouse, window)
    accuracy, count, per_version = rolling(warehouse, until, rolling_answers)
    photos: Counter[str] = Counter()
    for row in aggregates.images(warehouse, window):
        photos[row["origin"]] += int(row["images"])
    events: Counter[str] = Counter()
    for row in aggregates.retrain_events(warehouse, window):
        events[row["kind"]] += int(row["events"])
    last = warehouse.query(LAST_EVENT_SQL)
    return KeyFigures(
        since=since,
        until=until,
        predictions=int(latency["predictions"]),
        latency_p50_ms=_float(latency["p50"]),
        latency_p99_ms=_float(latency["p99"]),
        answers=sum(int(r["answered"]) for r in answered),
        incorrect=sum(int(r["answered"]) - int(r["correct"]) for r in answered),
        rolling_accuracy=accuracy,
        rolling_answers=count,
        rolling_by_version=per_version,
        photos_by_source=dict(sorted(photos.items())),
        retrain_events=dict(sorted(events.items())),
        last_retrain_event=last[0] if last else None,
    )


def rolling(
    warehouse: Warehouse, until: dt.datetime, size: int
) -> tuple[float | None, int, dict[str, float]]:
    """Accuracy of the latest ``size`` answers before ``until``: overall, count, per version."""
    rows = aggregates.recent_answers(warehouse, Window(until, until, 3600), size)
    overall = [bool(row["is_correct"]) for row in rows[-size:]]
    by_version: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_version[row["version"]].append(bool(row["is_correct"]))
    per_version = {v: sum(hits[-size:]) / len(hits[-size:]) for v, hits in by_version.items()}
    accuracy = sum(overall) / len(overall) if overall else None
    return accuracy, len(overall), dict(sorted(per_version.items()))


def format_figures(figures: KeyFigures) -> str:
    """Plain-text rendering for terminals and chat messages."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f} ms"

    hours = round((figures.until - figures.since).total_seconds() / 3600)
    lines = [
        f"Last {hours} h: {figures.predictions} predictions "
        f"(latency p50 {ms(figures.latency_p50_ms)}, p99 {ms(figures.latency_p99_ms)})",
        f"Answers: {figures.answers}, of which wrong: {figures.incorrect}",
        f"Rolling accuracy: {pct(figures.rolling_accuracy)} "
        f"over the latest {figures.rolling_answers} answers",
    ]
    lines += [f"  {v}: {pct(a)}" for v, a in figures.rolling_by_version.items()]
    photos = ", ".join(f"{s} {n}" for s, n in figures.photos_by_source.items()) or "none"
    events = ", ".join(f"{k} {n}" for k, n in figures.retrain_events.items()) or "none"
    lines += [f"Photos: {photos}", f"Retraining: {events}"]
    if figures.last_retrain_event:
        event = figures.last_retrain_event
        lines.append(
            f"Last retrain event: {event['kind']} at {event['created_at']}"
            + (f" ({event['rule']})" if event.get("rule") else "")
        )
    return "\n".join(lines)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
