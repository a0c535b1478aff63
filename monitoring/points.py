"""Turn warehouse aggregates and sink points into InfluxDB points.

Every point is a pure function of the data in its window: the same window gives the same
series, timestamps and values, so re-running an export overwrites instead of duplicating.
Numeric fields are always floats (InfluxDB refuses a field that changes type).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.metrics import aggregates
from core.metrics.aggregates import Window
from core.metrics.estimated_accuracy import EstimatedAccuracy
from core.metrics.names import Measurement
from core.metrics.sink import MetricPoint
from core.warehouse import Row, Warehouse

PRECISION = "ms"  # influxdb-client's WritePrecision.MS
ALL_VERSIONS = "all"


@dataclass(frozen=True)
class Point:
    """One InfluxDB point: measurement, tags, fields and a millisecond timestamp."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, float | str], ...]
    time_ms: int

    def to_dict(self) -> dict[str, Any]:
        """The dictionary form influxdb-client's write API accepts as a record."""
        return {
            "measurement": self.measurement,
            "tags": dict(self.tags),
            "fields": dict(self.fields),
            "time": self.time_ms,
        }


def point(
    measurement: str,
    at: dt.datetime,
    tags: Mapping[str, Any],
    fields: Mapping[str, Any],
) -> Point:
    """Build one point; None fields are left out, numbers become floats."""
    return Point(
        str(measurement),
        tuple(
            (key, str(value) if value not in (None, "") else "none")
            for key, value in sorted(tags.items())
        ),
        tuple(
            (key, value if isinstance(value, str) else float(value))
            for key, value in fields.items()
            if value is not None
        ),
        int(_utc(at).timestamp() * 1000),
    )


def prediction_points(rows: Iterable[Row]) -> list[Point]:
    """One point per bucket, model version and channel: count and latency figures."""
    return [
        point(
            Measurement.PREDICTIONS,
            row["bucket"],
            {"model_version": row["model_version"], "channel": row["channel"]},
            {
                "predictions": row["predictions"],
                "latency_mean_ms": row["latency_mean_ms"],
                "latency_p50_ms": row["latency_p50_ms"],
                "latency_p99_ms": row["latency_p99_ms"],
            },
        )
        for row in rows
    ]


def answer_points(rows: list[Row]) -> list[Point]:
    """Per-label accuracy (feedback) and the confusion of answers, per bucket."""
    per_label: dict[tuple[dt.datetime, str, str], list[int]] = defaultdict(lambda: [0, 0])
    confusion: dict[tuple[dt.datetime, str, str], int] = defaultdict(int)
    for row in rows:
        counts = per_label[(row["bucket"], row["version"], row["label"])]
        counts[0] += int(row["answered"])
        counts[1] += int(row["correct"])
        confusion[(row["bucket"], row["label"], row["predicted"])] += int(row["answered"])
    points = [
        point(
            Measurement.FEEDBACK,
            bucket,
            {"model_version": version, "label": label},
            {
                "answered": answered,
                "correct": correct,
                "incorrect": answered - correct,
                "accuracy": correct / answered,
            },
        )
        for (bucket, version, label), (answered, correct) in sorted(per_label.items())
    ]
    points += [
        point(
            Measurement.CONFUSION,
            bucket,
            {"true_label": truth, "predicted_label": predicted},
            {"count": count},
        )
        for (bucket, truth, predicted), count in sorted(confusion.items())
    ]
    return points


def rolling_points(rows: list[Row], window: Window, size: int) -> list[Point]:
    """Accuracy of the latest ``size`` answers as of each bucket's end, per version and all.

    A version gets a point only in buckets where it received answers.
    """
    recent: dict[str, deque[bool]] = defaultdict(lambda: deque(maxlen=size))
    position = 0
    points = []
    for bucket in window.buckets():
        end = min(bucket + dt.timedelta(seconds=window.step), window.until)
        answered: set[str] = set()
        while position < len(rows) and _utc(rows[position]["created_at"]) < end:
            row = rows[position]
            position += 1
            for version in (row["version"], ALL_VERSIONS):
                recent[version].append(bool(row["is_correct"]))
            if _utc(row["created_at"]) >= bucket:
                answered.update((row["version"], ALL_VERSIONS))
        for version in sorted(answered):
            hits = recent[version]
            points.append(
                point(
                    Measurement.ACCURACY_ROLLING,
                    bucket,
                    {"model_version": version},
                    {"accuracy": sum(hits) / len(hits), "answers": len(hits)},
                )
            )
    return points


def image_points(rows: Iterable[Row]) -> list[Point]:
    """Stored photos per bucket and source."""
    return [
        point(
            Measurement.IMAGES, row["bucket"], {"source": row["origin"]}, {"images": row["images"]}
        )
        for row in rows
    ]


def retrain_points(rows: Iterable[Row]) -> list[Point]:
    """Retrain events per bucket, kind and rule."""
    return [
        point(
            Measurement.RETRAIN_EVENTS,
            row["bucket"],
            {"kind": row["kind"], "rule": row["rule_tag"]},
            {"events": row["events"], "fires": row["fires"]},
        )
        for row in rows
    ]


def version_points(rows: Iterable[Row]) -> list[Point]:
    """One point per model version life event, at its own time (for annotations)."""
    return [
        point(
            Measurement.MODEL_VERSIONS,
            row["created_at"],
            {"status": row["status"]},
            {
                "version": row["version"],
                "accuracy": row["accuracy"],
                "average_accuracy": row["average_accuracy"],
                "backward_transfer": row["backward_transfer"],
                "reason": row["reason"],
            },
        )
        for row in rows
    ]


def estimate_point(found: EstimatedAccuracy, at: dt.datetime) -> Point | None:
    """Production's label-free estimated accuracy as of ``at`` (None without predictions).

    The figures are left out until a calibration is fitted: raw probabilities overstate
    accuracy, and a dashboard should not show them beside the answers.
    """
    if found.predictions == 0:
        return None
    fields: dict[str, Any] = {
        "predictions": found.predictions,
        "calibrated": float(found.calibrated),
        "threshold": found.threshold,
    }
    for name, figure in (("cbpe", found.cbpe), ("atc", found.atc)):
        if found.calibrated and figure is not None:
            fields.update({name: figure.value, f"{name}_low": figure.low,
                           f"{name}_high": figure.high})  # fmt: skip
    return point(Measurement.ACCURACY_ESTIMATED, at, {"model_version": found.version}, fields)


def sink_points(points: Iterable[MetricPoint]) -> list[Point]:
    """Sink metrics as recorded: measurement = metric name, one field ``value``."""
    return [point(p.metric, p.at, p.labels, {"value": p.value}) for p in points]


def warehouse_points(warehouse: Warehouse, window: Window, rolling_size: int) -> list[Point]:
    """Every point the warehouse tables give for the window."""
    return [
        *prediction_points(aggregates.predictions(warehouse, window)),
        *answer_points(aggregates.answers(warehouse, window)),
        *rolling_points(
            aggregates.recent_answers(warehouse, window, rolling_size), window, rolling_size
        ),
        *image_points(aggregates.images(warehouse, window)),
        *retrain_points(aggregates.retrain_events(warehouse, window)),
        *version_points(aggregates.model_versions(warehouse, window)),
    ]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
