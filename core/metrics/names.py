"""Every metric name, defined once: what components record and what ``monitoring`` writes.

Two families:

* ``SINK_METRICS`` are recorded by running code through a MetricsSink (warehouse table
  ``metric_points`` locally, Cloud Monitoring custom metrics on GCP). Most figures do not need
  this: the exporter derives them from warehouse tables.
  Only what no table holds is recorded this way: queue depth, live workers, errors.
* ``Measurement`` names are what the exporter writes to InfluxDB and Grafana queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

Kind = Literal["gauge", "counter"]


@dataclass(frozen=True)
class SinkMetric:
    """A metric recorded by running code: its kind, unit, labels and meaning."""

    name: str
    kind: Kind
    unit: str
    labels: tuple[str, ...]
    description: str


QUEUE_DEPTH: Final = "queue_depth"
WORKERS_ONLINE: Final = "workers_online"
REQUEST_ERRORS: Final = "request_errors"

SINK_METRICS: Final[dict[str, SinkMetric]] = {
    metric.name: metric
    for metric in (
        SinkMetric(QUEUE_DEPTH, "gauge", "1", ("queue",), "Tasks waiting in a Celery queue."),
        SinkMetric(WORKERS_ONLINE, "gauge", "1", (), "Celery workers answering a ping."),
        SinkMetric(
            REQUEST_ERRORS,
            "counter",
            "1",
            ("component", "error"),
            "Requests or tasks that ended in an error (count since the last point).",
        ),
    )
}


class Measurement(StrEnum):
    """InfluxDB measurements derived by the exporter (one point per bucket and tag set).

    Sink metrics are forwarded as recorded, under their own names with one field ``value``.
    """

    PREDICTIONS = "predictions"  # tags model_version, channel; count, latency_*_ms
    FEEDBACK = "feedback"  # tags model_version, label; answered, correct, incorrect
    ACCURACY_ROLLING = "accuracy_rolling"  # tags model_version; accuracy, answers
    ACCURACY_ESTIMATED = "accuracy_estimated"  # tags model_version; one per run at its window's
    # end: cbpe, atc and their _low/_high bounds (calibrated versions only), predictions,
    # calibrated, threshold
    CONFUSION = "confusion"  # tags true_label, predicted_label; count
    IMAGES = "images"  # tags source; count
    RETRAIN_EVENTS = "retrain_events"  # tags kind, rule; count
    MODEL_VERSIONS = "model_versions"  # tags status; version, accuracy, reason (per event)
    EXPORT = "export"  # one per run at its window end: points, predictions_last_hour,
    # accuracy_rolling, answers_rolling (the alert rules read these)


# Channels that are people sending photos, as opposed to photo APIs filling the dataset.
PEOPLE_SOURCES: Final = ("telegram", "web", "upload", "api")
