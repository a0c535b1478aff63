"""Each trigger rule fires on its own, and a quiet check says why nothing fired."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.metrics.estimated_accuracy import EstimatedAccuracy
from core.model.calibration import Calibration
from core.model.label_free import Estimate
from core.settings import Settings, TriggerSettings
from core.warehouse import Warehouse, open_warehouse
from core.warehouse.records import feedback_row, interaction_row
from retraining.triggers import Measurements, centroid_drift, decide

POLICY = TriggerSettings(
    min_new_labels=100,
    max_age_hours=24,
    min_labels_for_age=10,
    accuracy_window=50,
    accuracy_threshold=0.7,
    drift_margin=0.1,
    embedding_drift_threshold=0.2,
    estimate_window=300,
    estimate_min_predictions=200,
    estimated_accuracy_threshold=0.8,
)


def estimated(
    cbpe: float, atc: float | None = None, *, predictions: int = 300, calibrated: bool = True
) -> EstimatedAccuracy:
    """A label-free estimate of production, as the check measures it (ATC = CBPE unless given)."""
    second = cbpe if atc is None else atc
    return EstimatedAccuracy(
        "v3",
        calibrated,
        predictions,
        Estimate(cbpe, cbpe - 0.02, cbpe + 0.02, predictions),
        Estimate(second, second - 0.04, second + 0.04, predictions) if calibrated else None,
        0.6 if calibrated else None,
    )


QUIET = Measurements(
    new_labels=5,
    hours_since_retrain=1.0,
    recent_answers=50,
    recent_accuracy=0.9,
    historical_answers=500,
    historical_accuracy=0.92,
    embedding_drift=0.01,
    estimate=estimated(0.9),
)


def with_(**changes: object) -> Measurements:
    return Measurements(**{**QUIET.__dict__, **changes})  # type: ignore[arg-type]


def test_quiet_check_fires_nothing_and_logs_values() -> None:
    decision = decide(QUIET, POLICY)
    assert not decision.fired
    assert decision.rule == "no rule fired"
    assert decision.details["measured"]["new_labels"] == 5  # type: ignore[index]
    assert decision.details["thresholds"]["min_new_labels"] == 100  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"new_labels": 100}, "new_labels"),
        ({"hours_since_retrain": 24.0, "new_labels": 10}, "age"),
        ({"hours_since_retrain": None, "new_labels": 10}, "age"),
        ({"recent_accuracy": 0.6}, "accuracy"),
        ({"recent_accuracy": 0.75, "historical_accuracy": 0.9}, "accuracy_drift"),
        ({"embedding_drift": 0.3}, "embedding_drift"),
        ({"estimate": estimated(0.79)}, "estimated_accuracy"),
    ],
)
def test_each_rule_fires(changes: dict[str, object], rule: str) -> None:
    decision = decide(with_(**changes), POLICY)
    assert decision.fired
    assert decision.rule == rule


@pytest.mark.parametrize(
    "changes",
    [
        {"hours_since_retrain": 30.0, "new_labels": 9},  # old, but too few labels
        {"recent_accuracy": 0.6, "recent_answers": 49},  # window not full
        {"recent_accuracy": 0.6, "new_labels": 0},  # nothing to learn from
        {"recent_accuracy": 0.75, "historical_accuracy": 0.9, "historical_answers": 10},
        {"embedding_drift": 0.3, "new_labels": 0},
        {"embedding_drift": None},
        {"estimate": estimated(0.8)},  # at the threshold, not under it
        {"estimate": estimated(0.6, atc=0.85)},  # only CBPE under it
        {"estimate": estimated(0.85, atc=0.6)},  # only ATC under it
        {"estimate": estimated(0.6, predictions=199)},  # too few predictions
        {"estimate": estimated(0.6, calibrated=False)},  # raw probabilities: abstains
        {"estimate": estimated(0.6), "new_labels": 0},
        {"estimate": None},
    ],
)
def test_rules_hold_back_below_their_conditions(changes: dict[str, object]) -> None:
    assert not decide(with_(**changes), POLICY).fired


def test_the_check_logs_the_estimate_and_every_rule_that_holds() -> None:
    decision = decide(with_(estimate=estimated(0.7, atc=0.71), embedding_drift=0.3), POLICY)
    assert decision.rule == "estimated_accuracy"
    assert decision.details["holding"] == ["estimated_accuracy", "embedding_drift"]
    measured = decision.details["measured"]["estimate"]  # type: ignore[index]
    assert measured["cbpe"] == pytest.approx(
        {"value": 0.7, "low": 0.68, "high": 0.72, "predictions": 300}
    )
    assert measured["atc"]["value"] == pytest.approx(0.71)
    thresholds = decision.details["thresholds"]
    assert thresholds["estimated_accuracy_threshold"] == 0.8  # type: ignore[index]
    assert thresholds["estimate_min_predictions"] == 200  # type: ignore[index]
    json.dumps(decision.details)  # as the retrain_events row stores it


def test_no_new_labels_is_the_reason_given() -> None:
    assert decide(with_(new_labels=0), POLICY).rule == "no rule fired: no new labels"


def test_force_fires_and_still_logs_values() -> None:
    decision = decide(QUIET, POLICY, force=True)
    assert decision.fired and decision.rule == "forced"
    assert "measured" in decision.details


def test_centroid_drift_is_zero_for_same_direction_and_grows_with_change() -> None:
    base = np.abs(np.random.default_rng(0).normal(size=(50, 8)))
    assert centroid_drift(base, base * 2) == pytest.approx(0.0, abs=1e-9)
    other = base.copy()
    other[:, :4] = 0
    assert centroid_drift(other, base) > 0.2  # type: ignore[operator]
    assert centroid_drift(base[:0], base) is None


def test_check_writes_a_retrain_event_with_the_rule(settings: Settings) -> None:
    from retraining.check import check
    from retraining.resources import open_resources

    res = open_resources(settings)
    decision = check(res, settings.triggers)
    assert not decision.fired
    rows = open_warehouse(settings).query("SELECT * FROM retrain_events WHERE kind = 'check'")
    assert len(rows) == 1
    assert rows[0]["rule"] == "no rule fired: no new labels"
    assert rows[0]["fired"] is False
    assert json.loads(rows[0]["details_json"])["measured"]["new_labels"] == 0


def served(warehouse: Warehouse, count: int, top: float, answered: int = 5) -> None:
    """Log ``count`` predictions of v0 at top probability ``top``; people answer a few."""
    rows = [
        interaction_row(interaction_id=f"i{i:04d}", channel="web", image_id=f"img{i:04d}",
                        model_version="v0", top3=[("dog", top), ("cat", 1 - top)],
                        user_id=f"web:{i % 7}")
        for i in range(count)
    ]  # fmt: skip
    warehouse.insert("interactions", rows)
    answers = [feedback_row(row, user_id=str(row["user_id"]), correct=True) for row in rows]
    warehouse.insert("feedback", answers[:answered])


@pytest.mark.parametrize(
    ("count", "top", "calibrated", "fired"),
    [
        (250, 0.7, True, True),  # both under the threshold (ATC: none at or above 0.75)
        (250, 0.9, True, False),  # both above it
        (150, 0.7, True, False),  # too few predictions
        (250, 0.7, False, False),  # no calibration fitted yet: abstains
    ],
)
def test_check_reads_the_estimate_from_the_logged_predictions(
    settings: Settings, count: int, top: float, calibrated: bool, fired: bool
) -> None:
    from retraining.check import check
    from retraining.resources import open_resources

    res = open_resources(settings)
    served(res.warehouse, count, top)
    if calibrated:
        res.registry.calibrate("v0", Calibration(1.0, None, 0.75, 0.9, 300, "test-1"))
    decision = check(res, POLICY)
    assert decision.fired is fired
    assert decision.rule == ("estimated_accuracy" if fired else "no rule fired")
    measured = decision.details["measured"]["estimate"]  # type: ignore[index]
    assert measured["version"] == "v0"
    assert measured["predictions"] == count
    assert measured["cbpe"]["value"] == pytest.approx(top)
    assert measured["calibrated"] is calibrated
    assert (measured["atc"] is not None) is calibrated
