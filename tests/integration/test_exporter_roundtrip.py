"""The exporter against a real server speaking the InfluxDB write protocol (VictoriaMetrics).

influxdb-client posts to ``/api/v2/write``; the test reads every sample back through
VictoriaMetrics' export API (which names a series ``<measurement>_<field>``) and compares.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import Settings
from core.storage import open_store
from core.warehouse import Warehouse, open_warehouse
from monitoring import exporter, influx
from monitoring.exporter import ExportFailed, export_metrics, read_watermark
from monitoring.points import Point
from tests.integration.monitoring_support import (
    free_port,
    seed,
    seed_production,
    victoria_metrics,
    vm_export,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]]


@pytest.fixture(scope="module")
def vm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with victoria_metrics(tmp_path_factory.mktemp("vm")) as url:
        yield url


def with_influx(settings: Settings, url: str) -> Settings:
    monitoring = settings.monitoring.model_copy(
        update={"influx_url": url, "influx_token": SecretStr("test-token"), "influx_bucket": "cv"}
    )
    return settings.model_copy(update={"monitoring": monitoring})


@pytest.fixture
def warehouse(settings: Settings) -> Warehouse:
    warehouse = open_warehouse(settings)
    seed(warehouse, NOW)
    seed_production(settings)
    return warehouse


def expected_samples(points: Sequence[Point]) -> Samples:
    """What VictoriaMetrics should hold for these points (string fields are not numbers)."""
    samples: Samples = {}
    for point in points:
        for field, value in point.fields:
            if isinstance(value, float):
                key = (f"{point.measurement}_{field}", point.tags)
                samples.setdefault(key, {})[point.time_ms] = value
    return samples


def only(samples: Samples, names: set[str]) -> Samples:
    return {key: value for key, value in samples.items() if key[0].split("_")[0] in names}


def recording_writer(settings: Settings, sent: list[Point]) -> exporter.Writer:
    client = influx.open_client(settings)
    write = influx.writer_for(client, settings)

    def record(points: Sequence[Point]) -> None:
        sent.extend(points)
        write(points)

    return record


def test_round_trip_writes_every_aggregate(
    settings: Settings, warehouse: Warehouse, vm_url: str
) -> None:
    settings = with_influx(settings, vm_url)
    sent: list[Point] = []
    result = export_metrics(
        settings, warehouse=warehouse, now=NOW, writer=recording_writer(settings, sent)
    )
    assert result.skipped is None
    assert result.points == len(sent) > 100
    stored = vm_export(vm_url)
    expected = expected_samples(sent)
    for key, samples in expected.items():
        assert stored.get(key) == pytest.approx(samples), key
    predictions = [v for (name, _), s in stored.items() if name == "predictions_predictions"
                   for v in s.values()]  # fmt: skip
    assert sum(predictions) == 40
    per_source = {dict(tags)["source"]: sum(s.values())
                  for (name, tags), s in stored.items() if name == "images_images"}  # fmt: skip
    assert per_source == {"telegram": 10, "web": 10, "unsplash": 20, "pexels": 10}
    # Production (v0002) estimated over its 20 predictions: tops 0.5 to 0.9, threshold 0.7.
    estimated = {name.removeprefix("accuracy_estimated_"): list(s.values())
                 for (name, tags), s in stored.items()
                 if name.startswith("accuracy_estimated_") and tags == (("model_version", "v0002"),)
                 }  # fmt: skip
    assert all(len(v) == 1 for v in estimated.values())
    one = {name: v[0] for name, v in estimated.items()}
    assert (one["predictions"], one["calibrated"], one["threshold"]) == (20, 1, 0.7)
    assert one["cbpe"] == pytest.approx(0.7) and one["atc"] == pytest.approx(0.6)
    assert one["cbpe_low"] < one["cbpe"] < one["cbpe_high"]
    assert one["atc_low"] < one["atc"] < one["atc_high"]
    assert read_watermark(open_store(settings)) == result.until


def test_rerunning_a_window_writes_the_same_points(
    settings: Settings, warehouse: Warehouse, tmp_path: Path
) -> None:
    with victoria_metrics(tmp_path / "vm") as url:
        settings = with_influx(settings, url)
        since, until = NOW - dt.timedelta(hours=6), NOW
        first: list[Point] = []
        second: list[Point] = []
        export_metrics(settings, warehouse=warehouse, since=since, until=until,
                       writer=recording_writer(settings, first))  # fmt: skip
        after_first = vm_export(url)
        export_metrics(settings, warehouse=warehouse, since=since, until=until,
                       writer=recording_writer(settings, second))  # fmt: skip
        assert first == second
        assert vm_export(url) == after_first


def test_failed_write_leaves_the_watermark(
    settings: Settings, warehouse: Warehouse, vm_url: str
) -> None:
    earlier = NOW - dt.timedelta(hours=2)
    live = with_influx(settings, vm_url)
    first = export_metrics(live, warehouse=warehouse, now=earlier)
    store = open_store(settings)
    assert read_watermark(store) == first.until
    dead = with_influx(settings, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ExportFailed):
        export_metrics(dead, warehouse=warehouse, now=NOW)
    assert read_watermark(store) == first.until
    sent: list[Point] = []
    retry = export_metrics(live, warehouse=warehouse, now=NOW,
                           writer=recording_writer(live, sent))  # fmt: skip
    assert retry.since < first.until < retry.until
    assert read_watermark(store) == retry.until
    # Nothing between the two runs was skipped: every prediction is now on the server.
    stored = vm_export(vm_url)
    total = sum(v for (name, _), s in stored.items() if name == "predictions_predictions"
                for v in s.values())  # fmt: skip
    assert total == 40


def test_without_an_influx_url_the_export_is_skipped(settings: Settings) -> None:
    result = export_metrics(settings)
    assert result.skipped is not None
    assert "INFLUX_URL" in result.skipped
    assert read_watermark(open_store(settings)) is None
