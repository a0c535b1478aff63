"""Registering a challenger and acting on the gate: promote, stage, or keep it with the reason.

Promotion moves the registry's production pointer (servers and workers follow it within
``model.reload_seconds``); ``core.model.lifecycle`` writes the model_versions and
retrain_events rows of every move. A refused challenger stays in the registry, unpromoted,
with the reason in both tables.
"""

from __future__ import annotations

from typing import Any

from core.errors import ProductionMoved
from core.model.classifier import Head
from core.model.lifecycle import Lifecycle
from retraining.evaluate import GateResult


def register(
    lifecycle: Lifecycle, head: Head, parent: str, dataset_version: str, metrics: dict[str, Any]
) -> str:
    """Save the challenger as a new immutable version and record it as created."""
    return lifecycle.register(head, parent=parent, dataset_version=dataset_version,
                              metrics=metrics)  # fmt: skip


def act(
    lifecycle: Lifecycle, version: str, champion: str, verdict: GateResult, *, staging: bool
) -> str:
    """Promote, stage or refuse ``version``, which the gate compared with ``champion``.

    Return the status it ends with. A challenger of a champion that is no longer production
    (another round promoted meanwhile) is refused: it never beat the one now serving.
    """
    if not verdict.passed:
        lifecycle.refuse(version, reason=verdict.reason, details=verdict.figures)
        return "refused"
    if staging:
        lifecycle.stage(version, reason=verdict.reason, details=verdict.figures)
        return "staged"
    try:
        lifecycle.promote(version, reason=verdict.reason, details=verdict.figures,
                          replacing=champion)  # fmt: skip
    except ProductionMoved as exc:
        lifecycle.refuse(version, reason=str(exc), details=verdict.figures)
        return "refused"
    return "promoted"
