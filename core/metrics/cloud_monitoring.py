"""MetricsSink on Google Cloud Monitoring: custom metric descriptors and batched time series.

Every sink metric is a DOUBLE GAUGE under ``custom.googleapis.com/creature_vis/<name>`` on the
``global`` resource; counters are recorded as "count since the last point" gauges, because
custom metrics cannot be DELTA. Cloud Monitoring takes at most 200 series per request and one
point per series per request, so a flush splits the buffer accordingly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.api import label_pb2, metric_pb2
from google.cloud import monitoring_v3

from core.metrics.names import SINK_METRICS
from core.metrics.sink import BufferedSink, MetricPoint

METRIC_PREFIX = "custom.googleapis.com/creature_vis/"
MAX_SERIES_PER_REQUEST = 200


class CloudMonitoringSink(BufferedSink):
    """Writes sink metrics to Cloud Monitoring; descriptors are created once per process."""

    def __init__(self, client: Any, project: str, batch_size: int = MAX_SERIES_PER_REQUEST):
        super().__init__(min(batch_size, MAX_SERIES_PER_REQUEST))
        self.client = client
        self.project = project
        self._descriptors_ready = False

    @property
    def project_name(self) -> str:
        """The ``projects/<id>`` resource name."""
        return f"projects/{self.project}"

    def ensure_descriptors(self) -> None:
        """Create the descriptors of sink metrics that the project does not have yet."""
        if self._descriptors_ready:
            return
        existing = {
            descriptor.type
            for descriptor in self.client.list_metric_descriptors(
                request={
                    "name": self.project_name,
                    "filter": f'metric.type = starts_with("{METRIC_PREFIX}")',
                }
            )
        }
        for descriptor in metric_descriptors():
            if descriptor.type not in existing:
                self.client.create_metric_descriptor(
                    name=self.project_name, metric_descriptor=descriptor
                )
        self._descriptors_ready = True

    def flush(self) -> None:
        """Write buffered points, at most one point per series and 200 series per request."""
        if not self._buffer:
            return
        self.ensure_descriptors()
        points, self._buffer = self._buffer, []
        for batch in split_requests(points, self.batch_size):
            self.client.create_time_series(
                name=self.project_name, time_series=[self._series(p) for p in batch]
            )

    def read(self, since: dt.datetime, until: dt.datetime) -> list[MetricPoint]:
        """Read back every creature_vis series point in ``[since, until)``."""
        interval = monitoring_v3.TimeInterval(start_time=since, end_time=until)
        pager = self.client.list_time_series(
            request={
                "name": self.project_name,
                "filter": f'metric.type = starts_with("{METRIC_PREFIX}")',
                "interval": interval,
                "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            }
        )
        found = []
        for series in pager:
            name = series.metric.type.removeprefix(METRIC_PREFIX)
            for point in series.points:
                at = point.interval.end_time
                if since <= at < until:
                    labels = dict(series.metric.labels)
                    found.append(MetricPoint(name, point.value.double_value, at, labels))
        return sorted(found, key=lambda p: (p.at, p.metric, sorted(p.labels.items())))

    def _series(self, point: MetricPoint) -> monitoring_v3.TimeSeries:
        series = monitoring_v3.TimeSeries()
        series.metric.type = METRIC_PREFIX + point.metric
        series.metric.labels.update(point.labels)
        series.resource.type = "global"
        series.resource.labels["project_id"] = self.project
        interval = monitoring_v3.TimeInterval(end_time=point.at)
        value = monitoring_v3.TypedValue(double_value=point.value)
        series.points = [monitoring_v3.Point(interval=interval, value=value)]
        return series


def metric_descriptors() -> list[metric_pb2.MetricDescriptor]:
    """The descriptor of every sink metric, as created in Cloud Monitoring."""
    descriptors = []
    for spec in SINK_METRICS.values():
        descriptor = metric_pb2.MetricDescriptor(
            type=METRIC_PREFIX + spec.name,
            metric_kind=metric_pb2.MetricDescriptor.MetricKind.GAUGE,
            value_type=metric_pb2.MetricDescriptor.ValueType.DOUBLE,
            unit=spec.unit,
            description=spec.description,
            display_name=spec.name,
        )
        for key in spec.labels:
            descriptor.labels.append(
                label_pb2.LabelDescriptor(key=key, value_type=label_pb2.LabelDescriptor.STRING)
            )
        descriptors.append(descriptor)
    return descriptors


def split_requests(points: list[MetricPoint], size: int) -> list[list[MetricPoint]]:
    """Group points into requests with at most ``size`` series and one point per series."""
    requests: list[list[MetricPoint]] = []
    current: list[MetricPoint] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for point in sorted(points, key=lambda p: p.at):
        key = (point.metric, tuple(sorted(point.labels.items())))
        if len(current) >= size or key in seen:
            requests.append(current)
            current, seen = [], set()
        current.append(point)
        seen.add(key)
    if current:
        requests.append(current)
    return requests
