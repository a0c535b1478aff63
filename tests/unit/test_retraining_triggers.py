"""Each trigger rule fires on its own, and a quiet check says why nothing fired."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.settings import Settings, TriggerSettings
from core.warehouse import open_warehouse
from retraining.triggers import Measurements, centroid_drift, decide

POLICY = TriggerSettings(
    min_new_labels=100,
    max_age_hours=24,
    min_labels_for_age=10,
    accuracy_window=50,
    accuracy_threshold=0.7,
    drift_margin=0.1,
    embedding_drift_threshold=0.2,
)
QUIET = Measurements(
    new_labels=5,
    hours_since_retrain=1.0,
    recent_answers=50,
    recent_accuracy=0.9,
    historical_answers=500,
    historical_accuracy=0.92,
    embedding_drift=0.01,
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
    ],
)
def test_rules_hold_back_below_their_conditions(changes: dict[str, object]) -> None:
    assert not decide(with_(**changes), POLICY).fired


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
