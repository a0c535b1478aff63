"""Registering a challenger and acting on the gate: promote, stage, or keep it with the reason.

Promotion moves the registry's production pointer (servers and workers follow it within
``model.reload_seconds``) and writes a model_versions row and a retrain_events row. A refused
challenger stays in the registry, unpromoted, with the reason in both tables.
"""

from __future__ import annotations

import json
from typing import Any

from core.model.classifier import Head
from core.model.registry import Lineage, code_version
from core.warehouse.records import record_event, utcnow
from retraining.context import LoopContext
from retraining.evaluate import GateResult
from retraining.staging import stage


def register(
    ctx: LoopContext, head: Head, parent: str, dataset_version: str, metrics: dict[str, Any]
) -> str:
    """Save the challenger as a new immutable version and record it as created."""
    lineage = Lineage(parent_version=parent, dataset_version=dataset_version,
                      code_version=code_version())  # fmt: skip
    version = ctx.registry.save_head(head, metrics=metrics, lineage=lineage)
    _version_row(ctx, version, "created", lineage, metrics)
    return version


def act(
    ctx: LoopContext, version: str, parent: str, dataset_version: str, verdict: GateResult
) -> str:
    """Promote, stage or refuse ``version``; return the status it ends with."""
    lineage = Lineage(parent_version=parent, dataset_version=dataset_version,
                      code_version=code_version())  # fmt: skip
    metrics = verdict.figures.get("challenger", {})
    if not verdict.passed:
        status, kind = "refused", "refuse"
    elif ctx.settings.retrain.staging:
        stage(ctx, version)
        status, kind = "staged", "stage"
    else:
        ctx.registry.promote(version)
        status, kind = "promoted", "promote"
    _version_row(ctx, version, status, lineage, metrics, reason=verdict.reason)
    record_event(
        ctx.warehouse,
        kind,
        rule=verdict.reason,
        model_version=version,
        dataset_version=dataset_version,
        details=verdict.figures,
    )
    return status


def _version_row(
    ctx: LoopContext,
    version: str,
    status: str,
    lineage: Lineage,
    metrics: dict[str, Any],
    *,
    reason: str | None = None,
) -> None:
    ctx.warehouse.insert(
        "model_versions",
        [
            {
                "version": version,
                "status": status,
                "created_at": utcnow(),
                "parent_version": lineage.parent_version,
                "dataset_version": lineage.dataset_version,
                "code_version": lineage.code_version,
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "metrics_json": json.dumps(metrics, default=str),
                "reason": reason,
            }
        ],
    )
