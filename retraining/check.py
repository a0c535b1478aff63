"""Measuring what the trigger policy needs, deciding, and logging the check.

``new_labels`` counts only photos people labelled. Acquired photos with a weak label
(``retraining.weak``) are measured apart as ``new_weak_labels`` and logged with every check,
but fire no rule: acquisition pulls a fixed batch on its own schedule, so counting it would
make the loop retrain on the acquisition clock rather than on what people teach. Weak photos
join the candidates of whatever round a rule (or ``--force``) starts.
"""

from __future__ import annotations

from core.warehouse.records import record_event, utcnow
from retraining import datasets
from retraining.context import LoopContext
from retraining.feedback import (
    answer_rows,
    last_event_time,
    production_correctness,
    recent_image_ids,
)
from retraining.triggers import Decision, Measurements, centroid_drift, decide
from retraining.weak import weak_rows

DRIFT_SAMPLE = 2000


def held_ids(ctx: LoopContext) -> set[str]:
    """Return the photos already in the latest training or test version."""
    held: set[str] = set()
    for kind in ("train", "test"):
        manifest = datasets.latest(ctx.warehouse, ctx.store, kind)
        if manifest is not None:
            held |= manifest.ids()
    return held


def measure(ctx: LoopContext) -> Measurements:
    """Measure new labels, age, rolling and historical accuracy, and embedding drift."""
    rows = answer_rows(ctx.warehouse)
    held = held_ids(ctx)
    people = {str(r["image_id"]) for r in rows} - held
    weak = weak_rows(ctx.warehouse, held | people)
    last_train = last_event_time(ctx.warehouse, "train")
    hours = None if last_train is None else (utcnow() - last_train).total_seconds() / 3600
    window = ctx.settings.retrain.accuracy_window
    production = ctx.registry.production() or "v0"
    outcomes = production_correctness(rows, production)
    recent, historical = outcomes[-window:], outcomes[:-window]
    return Measurements(
        new_labels=len(people),
        hours_since_retrain=hours,
        recent_answers=len(recent),
        recent_accuracy=sum(recent) / len(recent) if recent else None,
        historical_answers=len(historical),
        historical_accuracy=sum(historical) / len(historical) if historical else None,
        embedding_drift=_embedding_drift(ctx, window),
        new_weak_labels=len(weak),
    )


def _embedding_drift(ctx: LoopContext, window: int) -> float | None:
    train = datasets.latest(ctx.warehouse, ctx.store, "train")
    if train is None:
        return None
    recent = [i for i in recent_image_ids(ctx.warehouse, window) if ctx.features.has(i)]
    training = [e.image_id for e in train.examples[-DRIFT_SAMPLE:]]
    if not recent or not training:
        return None
    return centroid_drift(
        ctx.features.get(recent).embeddings, ctx.features.get(training).embeddings
    )


def check(ctx: LoopContext, force: bool = False, forced_rule: str = "forced") -> Decision:
    """Run the trigger policy and write a retrain_events row with its outcome."""
    decision = decide(measure(ctx), ctx.settings.retrain, force=force)
    if force:
        decision = Decision(True, forced_rule, decision.details)
    record_event(
        ctx.warehouse,
        "check",
        fired=decision.fired,
        rule=decision.rule,
        model_version=ctx.registry.production(),
        details=decision.details,
    )
    return decision


def scheduled_check(ctx: LoopContext, force: bool = False) -> Decision:
    """What beat (and an admin's /retrain) runs: the staging review, then the policy."""
    if ctx.settings.retrain.staging:
        from retraining.staging import review  # staging reads checks' rows, not the reverse

        review(ctx)  # promotes or refuses once enough shadow predictions were made
    return check(ctx, force=force, forced_rule="forced by an admin")
