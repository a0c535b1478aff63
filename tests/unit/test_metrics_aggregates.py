"""Warehouse aggregates and the points made from them, on a real DuckDB warehouse."""

import datetime as dt

import pytest

from core.metrics.aggregates import Window, floor_time
from core.metrics.sink import WarehouseSink
from core.metrics.summary import format_figures, key_figures
from core.settings import Settings
from core.warehouse import Warehouse, open_warehouse
from monitoring.exporter import ExportOptions, collect_points, plan_window
from monitoring.points import Point
from tests.integration.monitoring_support import seed

NOW = dt.datetime(2026, 3, 1, 12, 2, 30, tzinfo=dt.UTC)
OPTIONS = ExportOptions(step_seconds=300, overlap_buckets=2, backfill_days=1, rolling_answers=200)


@pytest.fixture
def warehouse(settings: Settings) -> Warehouse:
    warehouse = open_warehouse(settings)
    seed(warehouse, NOW)
    return warehouse


def by_measurement(points: list[Point], name: str) -> list[Point]:
    return [p for p in points if p.measurement == name]


def fields(point: Point) -> dict[str, float | str]:
    return dict(point.fields)


def test_windows_align_to_buckets_and_resume_before_the_watermark() -> None:
    first = plan_window(OPTIONS, None, NOW)
    assert first.until == dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert first.since == first.until - dt.timedelta(days=1)
    later = plan_window(OPTIONS, first.until, NOW + dt.timedelta(hours=1))
    assert later.since == first.until - dt.timedelta(minutes=10)
    assert later.until == dt.datetime(2026, 3, 1, 13, 0, tzinfo=dt.UTC)
    assert len(later.buckets()) == 14
    assert floor_time(NOW, 3600) == dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def test_points_count_what_the_tables_hold(warehouse: Warehouse) -> None:
    window = plan_window(OPTIONS, None, NOW + dt.timedelta(minutes=5))
    points = collect_points(warehouse, WarehouseSink(warehouse), window, OPTIONS)
    predictions = by_measurement(points, "predictions")
    assert sum(fields(p)["predictions"] for p in predictions) == 40
    assert {dict(p.tags)["channel"] for p in predictions} == {"telegram", "web"}
    feedback = by_measurement(points, "feedback")
    # 30 answers, one of them superseded by a later answer from the same person.
    assert sum(fields(p)["answered"] for p in feedback) == 30
    assert sum(fields(p)["incorrect"] for p in feedback) == 9
    confusion = by_measurement(points, "confusion")
    assert sum(fields(p)["count"] for p in confusion) == 30
    images = by_measurement(points, "images")
    assert sum(fields(p)["images"] for p in images) == 50
    events = by_measurement(points, "retrain_events")
    fired = {dict(p.tags)["rule"]: fields(p)["fires"] for p in events
             if dict(p.tags)["kind"] == "check"}  # fmt: skip
    assert fired == {"none": 0.0, "min_new_labels": 1.0, "accuracy_below": 1.0}
    versions = by_measurement(points, "model_versions")
    assert [(dict(p.tags)["status"], fields(p)["version"]) for p in versions] == [
        ("promoted", "v0001"), ("created", "v0002"), ("promoted", "v0002"), ("refused", "v0003"),
    ]  # fmt: skip
    assert len(by_measurement(points, "queue_depth")) == 24
    export = by_measurement(points, "export")
    assert len(export) == 1
    assert fields(export[0]) == {
        "points": float(len(points)),
        "predictions_last_hour": 5.0,
        "accuracy_rolling": 0.7,
        "answers_rolling": 30.0,
    }


def test_rolling_accuracy_follows_the_latest_answers(warehouse: Warehouse) -> None:
    window = plan_window(OPTIONS, None, NOW + dt.timedelta(minutes=5))
    points = by_measurement(collect_points(warehouse, None, window, OPTIONS), "accuracy_rolling")
    latest = {dict(p.tags)["model_version"]: fields(p) for p in points}
    assert latest["all"] == {"accuracy": 0.7, "answers": 30.0}
    assert latest["v0002"]["answers"] == 15.0
    small = ExportOptions(step_seconds=300, backfill_days=1, rolling_answers=3)
    points = by_measurement(collect_points(warehouse, None, window, small), "accuracy_rolling")
    assert all(fields(p)["answers"] <= 3 for p in points)


def test_the_same_window_gives_the_same_points(warehouse: Warehouse) -> None:
    window = Window(NOW - dt.timedelta(hours=6), floor_time(NOW, 300), 300)
    sink = WarehouseSink(warehouse)
    assert collect_points(warehouse, sink, window, OPTIONS) == collect_points(
        warehouse, sink, window, OPTIONS
    )


def test_key_figures_match_the_exported_counts(warehouse: Warehouse) -> None:
    figures = key_figures(warehouse, now=NOW, hours=24)
    assert figures.predictions == 40
    assert figures.answers == 30
    assert figures.incorrect == 9
    assert figures.rolling_accuracy == pytest.approx(0.7)
    assert figures.rolling_by_version["v0002"] == pytest.approx(10 / 15)
    assert figures.photos_by_source == {"pexels": 10, "telegram": 10, "unsplash": 20, "web": 10}
    assert figures.retrain_events["check"] == 3
    assert figures.last_retrain_event is not None
    assert figures.last_retrain_event["kind"] == "failed"
    assert figures.latency_p50_ms is not None and 20 <= figures.latency_p50_ms <= 59
    text = format_figures(figures)
    assert "40 predictions" in text
    assert "Rolling accuracy: 70.0%" in text
    assert figures.to_json()["photos_by_source"]["unsplash"] == 20


def test_key_figures_of_an_empty_warehouse(settings: Settings) -> None:
    figures = key_figures(open_warehouse(settings), now=NOW)
    assert figures.predictions == 0
    assert figures.rolling_accuracy is None
    assert "n/a" in format_figures(figures)
