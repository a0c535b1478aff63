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
from retraining.context import LoopContext
from retraining.staging import review, shadow_figures, staged


def staged_context(settings: Settings, requests: int) -> LoopContext:
    """A context with staging on and a head version v1 staged."""
    retrain = settings.retrain.model_copy(update={"staging": True, "staging_requests": requests})
    ctx = LoopContext.from_settings(settings.model_copy(update={"retrain": retrain}))
    head = Head(np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32), np.zeros(16, np.float32))
    ctx.registry.save_head(head, metrics={}, lineage=Lineage("v0", None, "test"), version="v1")
    ctx.registry.stage("v1")
    return ctx


def shadow_row(ctx: LoopContext, predicted: str, shadow: str) -> str:
    interaction_id = new_id()
    record_interaction(ctx.warehouse, interaction_row(
        interaction_id=interaction_id, channel="api", image_id="a" * 64, model_version="v0",
        top3=[(predicted, 0.9)], shadow=("v1", shadow)))  # fmt: skip
    return interaction_id


def answer(ctx: LoopContext, interaction_id: str, user: str, label: str, age_s: int) -> None:
    row: dict[str, Any] = {
        "feedback_id": new_id(),
        "created_at": utcnow() - dt.timedelta(seconds=age_s),
        "interaction_id": interaction_id,
        "user_id": user,
        "is_correct": False,
        "label": label,
    }
    ctx.warehouse.insert("feedback", [row])


def test_a_staged_version_that_agrees_less_with_people_is_refused(settings: Settings) -> None:
    ctx = staged_context(settings, requests=3)
    ids = [shadow_row(ctx, "dog", "cat") for _ in range(3)]
    answer(ctx, ids[0], "ann", "dog", age_s=5)
    answer(ctx, ids[1], "bob", "dog", age_s=5)
    assert review(ctx) == "refuse"
    assert ctx.registry.production() == "v0" and staged(ctx) is None
    (event,) = ctx.warehouse.query("SELECT * FROM retrain_events")
    assert (event["kind"], event["model_version"]) == ("refuse", "v1")
    (version,) = ctx.warehouse.query("SELECT * FROM model_versions")
    assert (version["version"], version["status"]) == ("v1", "refused")
    assert '"shadow_agreement": 0.0' in version["reason"]


def test_only_each_persons_latest_answer_counts(settings: Settings) -> None:
    ctx = staged_context(settings, requests=2)
    first = shadow_row(ctx, "dog", "cat")
    assert review(ctx) == "waiting" and staged(ctx) == "v1"
    second = shadow_row(ctx, "dog", "cat")
    answer(ctx, first, "ann", "dog", age_s=60)  # superseded by her later answer
    answer(ctx, first, "ann", "cat", age_s=5)
    answer(ctx, second, "bob", "cat", age_s=5)
    figures = shadow_figures(ctx, "v1")
    assert figures == {"requests": 2, "answered": 2, "shadow_agreement": 1.0,
                       "production_agreement": 0.0}  # fmt: skip
    assert review(ctx) == "promote" and ctx.registry.production() == "v1"
    (version,) = ctx.warehouse.query("SELECT * FROM model_versions")
    assert (version["version"], version["status"], version["parent_version"]) == (
        "v1", "promoted", "v0")  # fmt: skip


def test_the_scheduled_check_reviews_staging_even_when_no_rule_fires(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = staged_context(settings, requests=1)
    answer(ctx, shadow_row(ctx, "dog", "cat"), "ann", "cat", age_s=5)
    monkeypatch.setenv("CREATURE_VIS_RETRAIN__STAGING", "true")
    monkeypatch.setenv("CREATURE_VIS_RETRAIN__STAGING_REQUESTS", "1")
    assert main(["check"]) == 0  # what beat's check_retrain runs
    assert json.loads(capsys.readouterr().out)["fired"] is False
    assert ctx.registry.production() == "v1" and staged(ctx) is None
