"""The staging review: it reads the shadow labels and people's latest answers from the warehouse."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest

from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from core.model.registry import Lineage
from core.settings import Settings
from core.warehouse.records import interaction_row, new_id, record_interaction, utcnow
from retraining.__main__ import main
from retraining.resources import Resources, open_resources
from retraining.sequential import SequentialTest
from retraining.staging import review, shadow_figures

# A loose test, decided by a few clear answers: two for the staged model promote, one against
# it refuses (each adds log 1.9 = 0.64 or log 0.1 = -2.30; the boundaries are 1.20 and -1.25).
QUICK = SequentialTest(alpha=0.3, beta=0.2, effect=0.45, max_answers=50)


def staged_context(settings: Settings) -> Resources:
    """Resources whose registry has a head version v1 staged."""
    res = open_resources(settings)
    head = Head(np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32), np.zeros(16, np.float32))
    res.registry.save_head(head, metrics={}, lineage=Lineage("v0", None, "test"), version="v1")
    res.registry.stage("v1")
    return res


def shadow_row(res: Resources, predicted: str, shadow: str) -> str:
    interaction_id = new_id()
    record_interaction(res.warehouse, interaction_row(
        interaction_id=interaction_id, channel="api", image_id="a" * 64, model_version="v0",
        top3=[(predicted, 0.9)], shadow=("v1", shadow)))  # fmt: skip
    return interaction_id


def answer(res: Resources, interaction_id: str, user: str, label: str, age_s: int) -> None:
    row: dict[str, Any] = {
        "feedback_id": new_id(),
        "created_at": utcnow() - dt.timedelta(seconds=age_s),
        "interaction_id": interaction_id,
        "user_id": user,
        "is_correct": False,
        "label": label,
    }
    res.warehouse.insert("feedback", [row])


def test_a_staged_version_that_agrees_less_with_people_is_refused(settings: Settings) -> None:
    res = staged_context(settings)
    ids = [shadow_row(res, "dog", "cat") for _ in range(3)]
    answer(res, ids[0], "ann", "dog", age_s=5)
    answer(res, ids[1], "bob", "dog", age_s=5)
    assert review(res.registry, res.warehouse, QUICK) == "refuse"
    assert res.registry.production() == "v0" and res.registry.staging() is None
    (event,) = res.warehouse.query("SELECT * FROM retrain_events")
    assert (event["kind"], event["model_version"]) == ("refuse", "v1")
    (version,) = res.warehouse.query("SELECT * FROM model_versions")
    assert (version["version"], version["status"]) == ("v1", "refused")
    assert '"shadow_agreement": 0.0' in version["reason"]
    details = json.loads(event["details_json"])
    assert (details["shadow_only_right"], details["production_only_right"]) == (0, 2)
    assert details["decision"] == "refuse" and details["reason"] == "the staged model is not better"
    assert details["log_likelihood_ratio"] <= details["refuse_at"]


def test_only_each_persons_latest_answer_counts(settings: Settings) -> None:
    res = staged_context(settings)
    first = shadow_row(res, "dog", "cat")
    assert review(res.registry, res.warehouse, QUICK) == "waiting"  # no answers yet
    assert res.registry.staging() == "v1"
    second = shadow_row(res, "dog", "cat")
    answer(res, first, "ann", "dog", age_s=60)  # superseded by her later answer (else refused)
    answer(res, first, "ann", "cat", age_s=5)
    answer(res, second, "bob", "cat", age_s=5)
    figures = shadow_figures(res.warehouse, "v1")
    assert figures == {"requests": 2, "answered": 2, "shadow_agreement": 1.0,
                       "production_agreement": 0.0, "shadow_only_right": 2,
                       "production_only_right": 0}  # fmt: skip
    assert review(res.registry, res.warehouse, QUICK) == "promote"
    assert res.registry.production() == "v1"
    (version,) = res.warehouse.query("SELECT * FROM model_versions")
    assert (version["version"], version["status"], version["parent_version"]) == (
        "v1", "promoted", "v0")  # fmt: skip


def test_the_scheduled_check_reviews_staging_even_when_no_rule_fires(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    res = staged_context(settings)
    answer(res, shadow_row(res, "dog", "cat"), "ann", "cat", age_s=5)
    answer(res, shadow_row(res, "dog", "cat"), "bob", "cat", age_s=5)
    monkeypatch.setenv("CREATURE_VIS_PROMOTION__STAGING", "true")
    monkeypatch.setenv("CREATURE_VIS_PROMOTION__STAGING_ALPHA", str(QUICK.alpha))
    monkeypatch.setenv("CREATURE_VIS_PROMOTION__STAGING_EFFECT", str(QUICK.effect))
    assert main(["check"]) == 0  # what beat's check_retrain runs
    assert json.loads(capsys.readouterr().out)["fired"] is False
    assert res.registry.production() == "v1" and res.registry.staging() is None


def test_answers_where_both_models_agree_decide_nothing(settings: Settings) -> None:
    res = staged_context(settings)
    for user in ("ann", "bob", "cy"):
        answer(res, shadow_row(res, "dog", "dog"), user, "dog", age_s=5)  # both right
        answer(res, shadow_row(res, "dog", "dog"), user, "cat", age_s=5)  # both wrong
    assert review(res.registry, res.warehouse, QUICK) == "waiting"
    assert res.registry.staging() == "v1" and not res.warehouse.query(
        "SELECT * FROM retrain_events"
    )


def test_a_staging_still_undecided_when_the_answers_budget_is_spent_is_refused(
    settings: Settings,
) -> None:
    res = staged_context(settings)
    budget = SequentialTest(max_answers=4)  # the defaults need 17 clear answers to promote
    for user in ("ann", "bob", "cy"):
        answer(res, shadow_row(res, "dog", "cat"), user, "cat", age_s=5)
    assert review(res.registry, res.warehouse, budget) == "waiting"
    answer(res, shadow_row(res, "dog", "dog"), "dan", "dog", age_s=5)
    assert review(res.registry, res.warehouse, budget) == "refuse"
    assert res.registry.production() == "v0" and res.registry.staging() is None
    (event,) = res.warehouse.query("SELECT * FROM retrain_events")
    details = json.loads(event["details_json"])
    assert (details["answered"], details["shadow_only_right"]) == (4, 3)
    assert details["reason"] == "undecided after 4 answers (the budget)"


def test_a_staged_version_is_not_promoted_over_a_production_that_moved_meanwhile(
    settings: Settings,
) -> None:
    res = staged_context(settings)
    head = Head(np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32), np.zeros(16, np.float32))
    res.registry.save_head(head, metrics={}, lineage=Lineage("v0", None, "test"), version="v2")
    res.registry.promote("v2")  # e.g. an admin's promotion while v1 shadowed v0
    for user in ("ann", "bob"):
        answer(res, shadow_row(res, "dog", "cat"), user, "cat", age_s=5)
    assert review(res.registry, res.warehouse, QUICK) == "refuse"
    assert res.registry.production() == "v2" and res.registry.staging() is None
    (event,) = res.warehouse.query("SELECT * FROM retrain_events")
    assert (event["kind"], event["model_version"]) == ("refuse", "v1")
    assert "not v0" in event["rule"]
