"""Measuring what the trigger policy needs, deciding, and logging the check.

``new_labels`` counts only photos people labelled. Acquired photos with a weak label
(``retraining.weak``) are measured apart as ``new_weak_labels`` and logged with every check,
but fire no rule: acquisition pulls a fixed batch on its own schedule, so counting it would
make the loop retrain on the acquisition clock rather than on what people teach. Weak photos
join the candidates of whatever round a rule (or ``--force``) starts.
"""

from __future__ import annotations

from core.metrics.estimated_accuracy import EstimatedAccuracy, production_estimate
from core.model.features import FeatureCache
from core.settings import PromotionSettings, TriggerSettings
from core.warehouse import Warehouse
from core.warehouse.records import record_event, utcnow
from retraining.feedback import last_event_time, production_correctness, recent_image_ids
from retraining.resources import Resources
from retraining.sequential import SequentialTest
from retraining.snapshot import Snapshot, read_snapshot
from retraining.staging import review
from retraining.triggers import Decision, Measurements, centroid_drift, decide

DRIFT_SAMPLE = 2000


def measure(
    snapshot: Snapshot,
    warehouse: Warehouse,
    features: FeatureCache,
    *,
    production: str,
    window: int,
    estimate: EstimatedAccuracy | None = None,
) -> Measurements:
    """Measure new labels, age, rolling and historical accuracy, and embedding drift.

    ``estimate`` is the label-free estimate of production, measured by the caller, which
    holds the registry (``core.metrics.estimated_accuracy``).
    """
    last_train = last_event_time(warehouse, "train")
    hours = None if last_train is None else (utcnow() - last_train).total_seconds() / 3600
    outcomes = production_correctness(snapshot.answers, production)
    recent, historical = outcomes[-window:], outcomes[:-window]
    return Measurements(
        new_labels=len(snapshot.new_answered),
        hours_since_retrain=hours,
        recent_answers=len(recent),
        recent_accuracy=sum(recent) / len(recent) if recent else None,
        historical_answers=len(historical),
        historical_accuracy=sum(historical) / len(historical) if historical else None,
        embedding_drift=_embedding_drift(snapshot, warehouse, features, window),
        new_weak_labels=len(snapshot.weak),
        estimate=estimate,
    )


def _embedding_drift(
    snapshot: Snapshot, warehouse: Warehouse, features: FeatureCache, window: int
) -> float | None:
    if snapshot.train is None:
        return None
    recent = [i for i in recent_image_ids(warehouse, window) if features.has(i)]
    training = [e.image_id for e in snapshot.train.examples[-DRIFT_SAMPLE:]]
    if not recent or not training:
        return None
    return centroid_drift(features.get(recent).embeddings, features.get(training).embeddings)


def check(
    resources: Resources, policy: TriggerSettings, force: bool = False, forced_rule: str = "forced"
) -> Decision:
    """Read a snapshot, run the trigger policy and write a retrain_events row with its outcome."""
    production = resources.registry.production()
    estimate = production_estimate(resources.warehouse, resources.registry,
                                   window=policy.estimate_window)  # fmt: skip
    values = measure(read_snapshot(resources.warehouse, resources.store), resources.warehouse,
                     resources.features, production=production or "v0",
                     window=policy.accuracy_window, estimate=estimate)  # fmt: skip
    decision = decide(values, policy, force=force)
    if force:
        decision = Decision(True, forced_rule, decision.details)
    record_event(
        resources.warehouse,
        "check",
        fired=decision.fired,
        rule=decision.rule,
        model_version=production,
        details=decision.details,
    )
    return decision


def scheduled_check(
    resources: Resources,
    triggers: TriggerSettings,
    promotion: PromotionSettings,
    force: bool = False,
) -> Decision:
    """What beat (and an admin's /retrain) runs: the staging review, then the policy."""
    if promotion.staging:  # promotes or refuses once people's answers decide either way
        review(resources.registry, resources.warehouse, SequentialTest.from_settings(promotion))
    return check(resources, triggers, force=force, forced_rule="forced by an admin")
