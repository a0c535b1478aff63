"""The production version's estimated accuracy, read from its latest logged predictions."""

from __future__ import annotations

import datetime as dt

import pytest

from core.metrics.estimated_accuracy import production_estimate
from core.model.calibration import Calibration
from core.model.handle import open_registry
from core.model.registry import ModelRegistry
from core.settings import Settings
from core.warehouse import Warehouse, open_warehouse
from core.warehouse.records import interaction_row, recent_confidences

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def log(warehouse: Warehouse, version: str, tops: list[float | None], first: int = 0) -> None:
    """Log one prediction a minute from START + ``first`` minutes, with these top figures."""
    rows = []
    for i, top in enumerate(tops, start=first):
        row = interaction_row(interaction_id=f"{version}-{i:04d}", channel="telegram",
                              image_id=f"img{i}", model_version=version,
                              top3=[("cat", top or 0.0)],
                              created_at=START + dt.timedelta(minutes=i))  # fmt: skip
        rows.append({**row, "predicted_probability": top})
    warehouse.insert("interactions", rows)


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    registry = open_registry(settings)
    registry.ensure_taxonomy()
    return registry


def test_the_window_is_the_versions_latest_predictions(settings: Settings) -> None:
    warehouse = open_warehouse(settings)
    log(warehouse, "v0", [0.5] * 10 + [0.9] * 5)
    log(warehouse, "v1", [0.1] * 20, first=100)
    log(warehouse, "v0", [None], first=200)  # logged without a probability: not counted
    assert recent_confidences(warehouse, version="v0", limit=5) == [0.9] * 5
    assert recent_confidences(warehouse, version="v0", limit=100) == [0.9] * 5 + [0.5] * 10
    before = START + dt.timedelta(minutes=10)
    assert recent_confidences(warehouse, version="v0", limit=3, until=before) == [0.5] * 3
    assert recent_confidences(warehouse, version="v2", limit=5) == []


def test_production_is_estimated_with_its_threshold(
    settings: Settings, registry: ModelRegistry
) -> None:
    warehouse = open_warehouse(settings)
    log(warehouse, "v0", [0.5, 0.7, 0.9, 0.95])
    log(warehouse, "v1", [0.1] * 20, first=100)
    uncalibrated = production_estimate(warehouse, registry, window=10)
    assert (uncalibrated.version, uncalibrated.calibrated) == ("v0", False)
    assert uncalibrated.cbpe is not None and uncalibrated.cbpe.value == pytest.approx(0.7625)
    assert uncalibrated.atc is None and uncalibrated.threshold is None
    registry.calibrate("v0", Calibration(1.3, None, 0.8, 0.9, 120, "test-2"))
    found = production_estimate(warehouse, registry, window=3)
    assert found.calibrated and found.threshold == 0.8 and found.predictions == 3
    assert found.cbpe is not None and found.cbpe.value == pytest.approx(0.85)
    assert found.atc is not None and found.atc.value == pytest.approx(2 / 3)
    assert found.to_json()["atc"]["predictions"] == 3


def test_without_predictions_there_is_no_estimate(
    settings: Settings, registry: ModelRegistry
) -> None:
    found = production_estimate(open_warehouse(settings), registry, window=50)
    assert found.predictions == 0
    assert found.cbpe is None and found.atc is None
