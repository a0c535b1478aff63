"""The warehouse sink (local twin of Cloud Monitoring), the factory and the queue gauges."""

import datetime as dt
from unittest import mock

import pytest

from core.metrics import NullSink, WarehouseSink, open_sink
from core.metrics.cloud_monitoring import CloudMonitoringSink
from core.settings import Settings, load_settings
from core.warehouse import open_warehouse
from monitoring.queues import record_queue_depths, record_workers_online

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_recorded_points_read_back_in_their_window(settings: Settings) -> None:
    sink = WarehouseSink(open_warehouse(settings))
    sink.record("queue_depth", 3, {"queue": "inference"}, at=T0)
    sink.record("workers_online", 2, at=T0 + dt.timedelta(minutes=5))
    sink.record("workers_online", 1, at=T0 + dt.timedelta(hours=2))
    sink.flush()
    points = sink.read(T0, T0 + dt.timedelta(hours=1))
    assert [(p.metric, p.value, p.at, dict(p.labels)) for p in points] == [
        ("queue_depth", 3.0, T0, {"queue": "inference"}),
        ("workers_online", 2.0, T0 + dt.timedelta(minutes=5), {}),
    ]


def test_recording_the_same_point_twice_stores_it_once(settings: Settings) -> None:
    warehouse = open_warehouse(settings)
    sink = WarehouseSink(warehouse)
    for _ in range(2):
        sink.record("request_errors", 1, {"component": "bot", "error": "timeout"}, at=T0)
        sink.flush()
    assert warehouse.query("SELECT COUNT(*) AS n FROM metric_points")[0]["n"] == 1


def test_a_full_buffer_is_written_without_flush(settings: Settings) -> None:
    warehouse = open_warehouse(settings)
    sink = WarehouseSink(warehouse, batch_size=2)
    sink.record("workers_online", 1, at=T0)
    sink.record("workers_online", 2, at=T0 + dt.timedelta(seconds=1))
    assert warehouse.query("SELECT COUNT(*) AS n FROM metric_points")[0]["n"] == 2


def test_bad_values_are_refused_before_anything_is_stored(settings: Settings) -> None:
    sink = WarehouseSink(open_warehouse(settings))
    with pytest.raises(ValueError, match="unknown metric 'latency'"):
        sink.record("latency", 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        sink.record("workers_online", 1, at=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="no label"):
        NullSink().record("workers_online", 1, {"queue": "x"})


def test_factory_picks_the_warehouse_locally_and_cloud_monitoring_on_gcp(
    settings: Settings,
) -> None:
    assert isinstance(open_sink(settings), WarehouseSink)
    gcp = load_settings(profile="gcp", gcp={"project": "demo-project"}, data_dir=settings.data_dir)
    with mock.patch("google.cloud.monitoring_v3.MetricServiceClient") as client_class:
        sink = open_sink(gcp)
    assert isinstance(sink, CloudMonitoringSink)
    assert sink.project == "demo-project"
    client_class.assert_called_once_with()


class ListsOnly:
    """The two redis-py calls ``count_queued`` makes, over fixed lengths."""

    def __init__(self, lengths: dict[str, int]) -> None:
        self.lengths = lengths

    def llen(self, name: str) -> int:
        return self.lengths.get(name, 0)

    def hlen(self, name: str) -> int:
        return self.lengths.get(name, 0)


def test_queue_depths_and_workers_become_sink_points(settings: Settings) -> None:
    sink = WarehouseSink(open_warehouse(settings))
    depths = record_queue_depths(sink, ListsOnly({"inference": 2, "inference\x06\x166": 1}))
    record_workers_online(sink, 3)
    sink.flush()
    assert depths["inference"] == 3
    points = sink.read(T0, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    recorded = {(p.metric, tuple(p.labels.values())): p.value for p in points}
    assert recorded[("queue_depth", ("inference",))] == 3.0
    assert recorded[("queue_depth", ("training",))] == 0.0
    assert recorded[("workers_online", ())] == 3.0
