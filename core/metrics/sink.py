"""The MetricsSink port and its local adapter, the warehouse table ``metric_points``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from core.metrics.names import SINK_METRICS
from core.warehouse import Warehouse

READ_POINTS_SQL = """
SELECT point_id, created_at, metric, value, labels_json
FROM metric_points
WHERE created_at >= @since AND created_at < @until
ORDER BY created_at, point_id
"""


@dataclass(frozen=True)
class MetricPoint:
    """One recorded value of a sink metric."""

    metric: str
    value: float
    at: dt.datetime
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def point_id(self) -> str:
        """Stable id: the same metric, labels and time give the same id (idempotent writes)."""
        labels = json.dumps(dict(sorted(self.labels.items())))
        key = f"{self.metric}|{labels}|{self.at.isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@runtime_checkable
class MetricsSink(Protocol):
    """Where running code records metrics; the exporter reads them back."""

    def record(
        self,
        metric: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        """Buffer one value of a metric named in ``SINK_METRICS``."""

    def flush(self) -> None:
        """Write buffered values."""

    def read(self, since: dt.datetime, until: dt.datetime) -> list[MetricPoint]:
        """Return the points recorded in ``[since, until)``, oldest first."""


def make_point(
    metric: str,
    value: float,
    labels: Mapping[str, str] | None,
    at: dt.datetime | None,
) -> MetricPoint:
    """Validate a value against ``SINK_METRICS`` and return it as a point."""
    spec = SINK_METRICS.get(metric)
    if spec is None:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(sorted(SINK_METRICS))}")
    labels = dict(labels or {})
    unknown = set(labels) - set(spec.labels)
    if unknown:
        raise ValueError(f"metric {metric!r} has no label {', '.join(sorted(unknown))}")
    when = at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise ValueError("metric times must be timezone-aware")
    return MetricPoint(metric, float(value), when.astimezone(dt.UTC), labels)


class BufferedSink:
    """Validates and buffers recorded values; subclasses write a full buffer in ``flush``."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._buffer: list[MetricPoint] = []

    def record(
        self,
        metric: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        """Buffer one value; write the buffer when it is full."""
        self._buffer.append(make_point(metric, value, labels, at))
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write buffered values."""
        raise NotImplementedError


class WarehouseSink(BufferedSink):
    """Records metrics as rows of the warehouse table ``metric_points`` (local twin)."""

    def __init__(self, warehouse: Warehouse, batch_size: int = 100) -> None:
        super().__init__(batch_size)
        self.warehouse = warehouse

    def flush(self) -> None:
        """Insert buffered points (a point already stored is skipped)."""
        points, self._buffer = self._buffer, []
        rows = [
            {
                "point_id": point.point_id,
                "created_at": point.at,
                "metric": point.metric,
                "value": point.value,
                "labels_json": json.dumps(dict(sorted(point.labels.items()))),
            }
            for point in points
        ]
        self.warehouse.insert("metric_points", rows)

    def read(self, since: dt.datetime, until: dt.datetime) -> list[MetricPoint]:
        """Return stored points in ``[since, until)``."""
        rows = self.warehouse.query(READ_POINTS_SQL, {"since": since, "until": until})
        return [
            MetricPoint(
                row["metric"],
                float(row["value"]),
                _utc(row["created_at"]),
                json.loads(row["labels_json"] or "{}"),
            )
            for row in rows
        ]


class NullSink:
    """Drops every value (for tools and tests that record nothing)."""

    def record(
        self,
        metric: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        """Validate and forget."""
        make_point(metric, value, labels, at)

    def flush(self) -> None:
        """Nothing to write."""

    def read(self, since: dt.datetime, until: dt.datetime) -> list[MetricPoint]:
        """Nothing was kept."""
        return []


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
