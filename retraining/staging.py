"""Staging: a challenger that passed the gate predicts in shadow before it may be promoted.

The staging pointer belongs to the registry (``ModelRegistry.stage``/``staging``). Servers and
workers with ``promotion.staging`` on run the staged version beside production on the same
backbone pass and log its top label in the interaction's ``shadow_version``/``shadow_label``
columns, never showing it. ``review`` (run with every trigger check) promotes the staged
version once ``staging_requests`` shadow predictions have been made and, on those answered by
people meanwhile (each person's latest answer), it agreed with the answers at least as often
as production did; otherwise it is refused and unstaged. Nothing happens before enough
requests. The outcome goes in a retrain_events row (with the agreement figures) and a
model_versions row, like a promotion straight from the gate.
"""

from __future__ import annotations

import json
from typing import Any

from core.model.lifecycle import Lifecycle
from core.model.registry import ModelRegistry
from core.warehouse import Warehouse
from core.warehouse.records import ANSWERS_THAT_COUNT, answer_params

# Every shadow prediction, with each person's latest answer about it (if any).
SHADOW_SQL = f"""
SELECT i.interaction_id, i.predicted_label, i.shadow_label, a.label
FROM interactions AS i
LEFT JOIN {ANSWERS_THAT_COUNT} AS a ON a.interaction_id = i.interaction_id
WHERE i.shadow_version = @version
"""  # noqa: S608  (constants)


def shadow_figures(warehouse: Warehouse, version: str) -> dict[str, Any]:
    """Count shadow predictions and agreement of both models with the answers meanwhile."""
    rows = warehouse.query(SHADOW_SQL, answer_params(version=version))
    requests = len({r["interaction_id"] for r in rows})
    answered = [r for r in rows if r["label"] is not None]
    shadow = sum(r["shadow_label"] == r["label"] for r in answered)
    production = sum(r["predicted_label"] == r["label"] for r in answered)
    return {
        "requests": requests,
        "answered": len(answered),
        "shadow_agreement": shadow / len(answered) if answered else None,
        "production_agreement": production / len(answered) if answered else None,
    }


def review(registry: ModelRegistry, warehouse: Warehouse, requests: int) -> str | None:
    """Promote or refuse the staged version once it has shadowed ``requests`` requests."""
    version = registry.staging()
    if version is None:
        return None
    figures = shadow_figures(warehouse, version)
    if figures["requests"] < requests:
        return "waiting"
    shadow, production = figures["shadow_agreement"], figures["production_agreement"]
    passed = shadow is None or production is None or shadow >= production
    lifecycle = Lifecycle(registry, warehouse)
    reason = "staging review: " + json.dumps(figures, sort_keys=True)
    if passed:
        lifecycle.promote(version, reason=reason, details=figures)
        registry.unstage()
    else:
        lifecycle.refuse(version, reason=reason, details=figures)
    return "promote" if passed else "refuse"
