"""Staging: a challenger that passed the gate predicts in shadow before it may be promoted.

The staging pointer belongs to the registry (``ModelRegistry.stage``/``staging``). Servers and
workers with ``promotion.staging`` on run the staged version beside production on the same
backbone pass and log its top label in the interaction's ``shadow_version``/``shadow_label``
columns, never showing it. ``review`` (run with every trigger check) counts, among the shadow
predictions people answered (each person's latest answer), those where only the staged model
was right and those where only production was, and asks the sequential test
(``retraining.sequential``) whether that is evidence enough either way. It promotes or
refuses as soon as it is, whenever the review runs, and refuses a challenger still undecided
after ``staging_max_answers`` answers. The outcome goes in a retrain_events row (with the
figures of the test) and a model_versions row, like a promotion straight from the gate.
"""

from __future__ import annotations

import json
from typing import Any

from core.errors import ProductionMoved
from core.model.lifecycle import Lifecycle
from core.model.registry import ModelRegistry
from core.warehouse import Warehouse
from core.warehouse.records import ANSWERS_THAT_COUNT, answer_params
from retraining.sequential import SequentialTest

# Every shadow prediction, with each person's latest answer about it (if any).
SHADOW_SQL = f"""
SELECT i.interaction_id, i.predicted_label, i.shadow_label, a.label
FROM interactions AS i
LEFT JOIN {ANSWERS_THAT_COUNT} AS a ON a.interaction_id = i.interaction_id
WHERE i.shadow_version = @version
"""  # noqa: S608  (constants)


def shadow_figures(warehouse: Warehouse, version: str) -> dict[str, Any]:
    """Count shadow predictions, answers, and which model the answers agreed with."""
    rows = warehouse.query(SHADOW_SQL, answer_params(version=version))
    answered = [r for r in rows if r["label"] is not None]
    shadow = [r["shadow_label"] == r["label"] for r in answered]
    production = [r["predicted_label"] == r["label"] for r in answered]
    return {
        "requests": len({r["interaction_id"] for r in rows}),
        "answered": len(answered),
        "shadow_agreement": sum(shadow) / len(answered) if answered else None,
        "production_agreement": sum(production) / len(answered) if answered else None,
        "shadow_only_right": sum(s and not p for s, p in zip(shadow, production, strict=True)),
        "production_only_right": sum(p and not s for s, p in zip(shadow, production, strict=True)),
    }


def review(registry: ModelRegistry, warehouse: Warehouse, test: SequentialTest) -> str | None:
    """Promote or refuse the staged version once ``test`` decides; else return "waiting"."""
    version = registry.staging()
    if version is None:
        return None
    counts = shadow_figures(warehouse, version)
    verdict = test.judge(counts["shadow_only_right"], counts["production_only_right"],
                         counts["answered"])  # fmt: skip
    if verdict.decision == "waiting":
        return "waiting"
    figures = {**counts, **verdict.figures}
    lifecycle = Lifecycle(registry, warehouse)
    reason = "staging review: " + json.dumps(figures, sort_keys=True)
    if verdict.decision == "promote":
        # Only over the champion it shadowed: the answers compared the two of them.
        champion = registry.get(version).lineage.parent_version
        try:
            lifecycle.promote(version, reason=reason, details=figures, replacing=champion)
        except ProductionMoved as exc:
            lifecycle.refuse(version, reason=str(exc), details=figures)
            return "refuse"
        registry.unstage()
    else:
        lifecycle.refuse(version, reason=reason, details=figures)
    return verdict.decision
