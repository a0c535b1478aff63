"""The Cloud Monitoring sink, checked by the exact requests it gives the client (no cloud here)."""

import datetime as dt
from unittest import mock

import pytest
from google.api import label_pb2, metric_pb2
from google.cloud import monitoring_v3

from core.metrics.cloud_monitoring import METRIC_PREFIX, CloudMonitoringSink, metric_descriptors

pytestmark = pytest.mark.gcp
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def client() -> mock.MagicMock:
    client = mock.create_autospec(monitoring_v3.MetricServiceClient, instance=True)
    existing = metric_pb2.MetricDescriptor(type=METRIC_PREFIX + "queue_depth")
    client.list_metric_descriptors.return_value = [existing]
    return client


def series(
    metric: str, labels: dict[str, str], at: dt.datetime, value: float
) -> monitoring_v3.TimeSeries:
    expected = monitoring_v3.TimeSeries()
    expected.metric.type = f"custom.googleapis.com/creature_vis/{metric}"
    expected.metric.labels.update(labels)
    expected.resource.type = "global"
    expected.resource.labels["project_id"] = "demo-project"
    expected.points = [
        monitoring_v3.Point(
            interval=monitoring_v3.TimeInterval(end_time=at),
            value=monitoring_v3.TypedValue(double_value=value),
        )
    ]
    return expected


def test_missing_descriptors_are_created_once(client: mock.MagicMock) -> None:
    sink = CloudMonitoringSink(client, "demo-project")
    sink.record("workers_online", 2, at=T0)
    sink.flush()
    sink.record("workers_online", 3, at=T0 + dt.timedelta(minutes=1))
    sink.flush()
    client.list_metric_descriptors.assert_called_once_with(
        request={
            "name": "projects/demo-project",
            "filter": 'metric.type = starts_with("custom.googleapis.com/creature_vis/")',
        }
    )
    created = [call.kwargs for call in client.create_metric_descriptor.call_args_list]
    assert [c["name"] for c in created] == ["projects/demo-project"] * 2
    errors = created[1]["metric_descriptor"]
    assert [c["metric_descriptor"].type for c in created] == [
        METRIC_PREFIX + "workers_online",
        METRIC_PREFIX + "request_errors",
    ]
    assert errors.metric_kind == metric_pb2.MetricDescriptor.MetricKind.GAUGE
    assert errors.value_type == metric_pb2.MetricDescriptor.ValueType.DOUBLE
    assert [(label.key, label.value_type) for label in errors.labels] == [
        ("component", label_pb2.LabelDescriptor.STRING),
        ("error", label_pb2.LabelDescriptor.STRING),
    ]
    assert len(metric_descriptors()) == 3


def test_points_are_batched_one_per_series_per_request(client: mock.MagicMock) -> None:
    sink = CloudMonitoringSink(client, "demo-project")
    later = T0 + dt.timedelta(minutes=1)
    sink.record("queue_depth", 4, {"queue": "inference"}, at=T0)
    sink.record("queue_depth", 0, {"queue": "training"}, at=T0)
    sink.record("queue_depth", 5, {"queue": "inference"}, at=later)
    sink.flush()
    assert client.create_time_series.call_args_list == [
        mock.call(
            name="projects/demo-project",
            time_series=[
                series("queue_depth", {"queue": "inference"}, T0, 4.0),
                series("queue_depth", {"queue": "training"}, T0, 0.0),
            ],
        ),
        mock.call(
            name="projects/demo-project",
            time_series=[series("queue_depth", {"queue": "inference"}, later, 5.0)],
        ),
    ]


def test_a_full_buffer_writes_200_series_per_request(client: mock.MagicMock) -> None:
    sink = CloudMonitoringSink(client, "demo-project")
    for i in range(450):
        sink.record("request_errors", 1, {"component": f"c{i}", "error": "x"}, at=T0)
    sink.flush()
    sizes = [len(call.kwargs["time_series"]) for call in client.create_time_series.call_args_list]
    assert sizes == [200, 200, 50]


def test_unknown_metrics_and_labels_are_refused(client: mock.MagicMock) -> None:
    sink = CloudMonitoringSink(client, "demo-project")
    with pytest.raises(ValueError, match="unknown metric"):
        sink.record("made_up", 1)
    with pytest.raises(ValueError, match="no label"):
        sink.record("queue_depth", 1, {"colour": "red"})
    client.create_time_series.assert_not_called()


def test_read_lists_the_series_in_the_window(client: mock.MagicMock) -> None:
    until = T0 + dt.timedelta(hours=1)
    client.list_time_series.return_value = [series("queue_depth", {"queue": "default"}, T0, 7.0)]
    points = CloudMonitoringSink(client, "demo-project").read(T0, until)
    client.list_time_series.assert_called_once_with(
        request={
            "name": "projects/demo-project",
            "filter": 'metric.type = starts_with("custom.googleapis.com/creature_vis/")',
            "interval": monitoring_v3.TimeInterval(start_time=T0, end_time=until),
            "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        }
    )
    assert [(p.metric, p.value, p.at, dict(p.labels)) for p in points] == [
        ("queue_depth", 7.0, T0, {"queue": "default"})
    ]
