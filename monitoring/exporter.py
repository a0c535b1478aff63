"""The InfluxDB exporter: one function behind the CLI, the periodic exporter and the cloud job.

It reads aggregates since its watermark, writes them as InfluxDB points with influxdb-client
(HTTPS and a token in production), then moves the watermark. Buckets are aligned to
``step`` seconds and only complete buckets are exported; the last ``overlap`` buckets are
exported again on the next run so late rows are picked up (same series and timestamps, so
InfluxDB overwrites them). A failed write raises and leaves the watermark where it was.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import CreatureVisError, ObjectNotFound
from core.metrics import aggregates
from core.metrics.aggregates import Window, floor_time
from core.metrics.estimated_accuracy import production_estimate
from core.metrics.names import Measurement
from core.metrics.sink import MetricsSink
from core.model.registry import ModelRegistry
from core.settings import Settings
from core.storage import ImageStore
from core.warehouse import Warehouse
from monitoring import points
from monitoring.points import Point

log = logging.getLogger(__name__)

WATERMARK_KEY = "monitoring/export-watermark.json"
Writer = Callable[[Sequence[Point]], None]


class ExportFailed(CreatureVisError):
    """The InfluxDB write failed; the watermark did not move."""

    user_message = "The metrics export failed; it will be retried from the same point."


@dataclass(frozen=True)
class ExportOptions:
    """How the exporter cuts time: bucket size, re-exported buckets, first-run history."""

    step_seconds: int = 300
    overlap_buckets: int = 2
    backfill_days: int = 30
    rolling_answers: int = 200
    estimate_window: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportOptions:
        """Options from MonitoringSettings."""
        monitoring = settings.monitoring
        return cls(
            step_seconds=monitoring.export_step_seconds,
            overlap_buckets=monitoring.export_overlap_buckets,
            backfill_days=monitoring.export_backfill_days,
            rolling_answers=settings.triggers.accuracy_window,
            estimate_window=settings.triggers.estimate_window,
        )


@dataclass(frozen=True)
class ExportResult:
    """What one export run did."""

    since: dt.datetime | None
    until: dt.datetime | None
    points: int
    watermark: dt.datetime | None
    skipped: str | None = None
    bootstrap: str | None = None  # first run only: what the InfluxDB bootstrap did

    def to_json(self) -> dict[str, object]:
        """A JSON-able summary for logs and the CLI."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "points": self.points,
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "skipped": self.skipped,
            "bootstrap": self.bootstrap,
        }


def read_watermark(store: ImageStore) -> dt.datetime | None:
    """End of the last exported window, or None before the first export."""
    try:
        data = json.loads(store.get(WATERMARK_KEY))
    except ObjectNotFound:
        return None
    return dt.datetime.fromisoformat(data["until"])


def write_watermark(store: ImageStore, until: dt.datetime) -> None:
    """Record that everything before ``until`` has been exported."""
    store.put(WATERMARK_KEY, json.dumps({"until": until.isoformat()}).encode(), "application/json")


def plan_window(
    options: ExportOptions,
    watermark: dt.datetime | None,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Window:
    """The window to export: explicit bounds, else from the watermark (minus overlap) to now."""
    step = options.step_seconds
    end = floor_time(until or now, step)
    if since is not None:
        start = floor_time(since, step)
    elif watermark is not None:
        start = watermark - dt.timedelta(seconds=step * options.overlap_buckets)
    else:
        start = floor_time(end - dt.timedelta(days=options.backfill_days), step)
    return Window(start, end, step)


def collect_points(
    warehouse: Warehouse,
    sink: MetricsSink | None,
    window: Window,
    options: ExportOptions,
    registry: ModelRegistry | None = None,
) -> list[Point]:
    """Every point for the window, ending with the run's own point at the window's end.

    With a registry, production's label-free estimated accuracy over its latest predictions
    before the window's end is one of them (with the version and calibration of now).
    """
    found = points.warehouse_points(warehouse, window, options.rolling_answers)
    if sink is not None:
        found += points.sink_points(sink.read(window.since, window.until))
    if registry is not None:
        estimate = production_estimate(warehouse, registry, window=options.estimate_window,
                                       until=window.until)  # fmt: skip
        estimated = points.estimate_point(estimate, window.until)
        if estimated is not None:
            found.append(estimated)
    hour_ago = window.until - dt.timedelta(hours=1)
    recent = aggregates.recent_answers(
        warehouse, Window(window.until, window.until, window.step), options.rolling_answers
    )
    hits = [bool(row["is_correct"]) for row in recent[-options.rolling_answers :]]
    found.append(
        points.point(
            Measurement.EXPORT,
            window.until,
            {},
            {
                "points": len(found) + 1,
                "predictions_last_hour": aggregates.prediction_count(
                    warehouse, hour_ago, window.until
                ),
                "accuracy_rolling": sum(hits) / len(hits) if hits else None,
                "answers_rolling": len(hits),
            },
        )
    )
    return found


def export_metrics(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    store: ImageStore | None = None,
    sink: MetricsSink | None = None,
    writer: Writer | None = None,
    now: dt.datetime | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> ExportResult:
    """Export aggregates since the watermark (or an explicit window) to InfluxDB.

    Skips, saying why, when no InfluxDB is configured. Raises ExportFailed when the write
    fails, leaving the watermark unmoved. An explicit window never moves the watermark back.
    """
    if writer is None and not settings.monitoring.influx_url:
        return ExportResult(
            None, None, 0, None, skipped="CREATURE_VIS_MONITORING__INFLUX_URL unset"
        )
    from core.metrics import open_sink
    from core.model.handle import open_registry
    from core.storage import open_store
    from core.warehouse import open_warehouse

    warehouse = warehouse or open_warehouse(settings)
    store = store or open_store(settings)
    sink = sink if sink is not None else open_sink(settings, warehouse)
    options = ExportOptions.from_settings(settings)
    watermark = read_watermark(store)
    window = plan_window(options, watermark, now or dt.datetime.now(dt.UTC), since, until)
    if window.until <= window.since:
        return ExportResult(window.since, window.until, 0, watermark, skipped="nothing new")
    found = collect_points(warehouse, sink, window, options, open_registry(settings, store))
    bootstrap = _write(settings, writer, found, first_run=watermark is None)
    if watermark is None or window.until > watermark:
        write_watermark(store, window.until)
        watermark = window.until
    log.info("exported %d points for [%s, %s)", len(found), window.since, window.until)
    return ExportResult(window.since, window.until, len(found), watermark, bootstrap=bootstrap)


def _write(
    settings: Settings, writer: Writer | None, found: Sequence[Point], *, first_run: bool
) -> str | None:
    """Write the points; on the first run against a real server, bootstrap it first."""
    from monitoring import influx

    client = None
    bootstrap = None
    if writer is None:
        client = influx.open_client(settings)
        writer = influx.writer_for(client, settings)
        if first_run:
            bootstrap = influx.try_bootstrap(client, settings)
    try:
        writer(found)
    except Exception as exc:
        raise ExportFailed(f"writing {len(found)} points to InfluxDB failed: {exc}") from exc
    finally:
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]
    return bootstrap
