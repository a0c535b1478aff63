"""A model version's life in one place: created, promoted, staged, refused, rolled back.

Every step moves the registry's pointers (if it moves any) and writes its audit rows: a
model_versions row with the version's lineage and metrics, and a retrain_events row saying
what happened, why and who asked. The retraining round, the staging review, the bot's
/rollback and ``creature-vis models`` all go through here, so none moves production silently.
"""

from __future__ import annotations

import json
from typing import Any

from core.model.classifier import Head
from core.model.registry import Lineage, ModelRegistry, ModelVersion, code_version
from core.warehouse import Warehouse
from core.warehouse.records import record_event, utcnow


class Lifecycle:
    """The audited moves of the model registry."""

    def __init__(self, registry: ModelRegistry, warehouse: Warehouse) -> None:
        self.registry = registry
        self.warehouse = warehouse

    def register(
        self, head: Head, *, parent: str, dataset_version: str, metrics: dict[str, Any]
    ) -> str:
        """Save a challenger as a new immutable version, recorded as created; return it."""
        lineage = Lineage(parent_version=parent, dataset_version=dataset_version,
                          code_version=code_version())  # fmt: skip
        version = self.registry.save_head(head, metrics=metrics, lineage=lineage)
        self._version_row(version, "created")
        return version

    def promote(
        self,
        version: str,
        *,
        reason: str,
        details: dict[str, Any] | None = None,
        replacing: str | None = None,
    ) -> None:
        """Make ``version`` production (servers and workers follow within seconds).

        With ``replacing``, only while production is still that champion (ProductionMoved).
        """
        self.registry.promote(version, replacing=replacing)
        self._audit(version, "promoted", "promote", reason, details)

    def stage(self, version: str, *, reason: str, details: dict[str, Any] | None = None) -> None:
        """Serve ``version`` in shadow beside production."""
        self.registry.stage(version)
        self._audit(version, "staged", "stage", reason, details)

    def refuse(self, version: str, *, reason: str, details: dict[str, Any] | None = None) -> None:
        """Keep ``version`` in the registry, unpromoted, with the reason."""
        if self.registry.staging() == version:
            self.registry.unstage()
        self._audit(version, "refused", "refuse", reason, details)

    def rollback(self, *, by: str) -> tuple[str | None, str]:
        """Move production back one version; return (previous, now)."""
        before = self.registry.production()
        after = self.registry.rollback()
        self._audit(after, "promoted", "rollback", f"rollback by {by}", {"from": before, "by": by})
        return before, after

    def _audit(
        self, version: str, status: str, kind: str, reason: str, details: dict[str, Any] | None
    ) -> None:
        model = self._version_row(version, status, reason)
        record_event(self.warehouse, kind, rule=reason, model_version=version,
                     dataset_version=model.lineage.dataset_version, details=details)  # fmt: skip

    def _version_row(self, version: str, status: str, reason: str | None = None) -> ModelVersion:
        """Write the version's model_versions row; return the version (read and verified once)."""
        model = self.registry.get(version)
        self.warehouse.insert("model_versions", [{
            "version": version,
            "status": status,
            "created_at": utcnow(),
            "parent_version": model.lineage.parent_version,
            "dataset_version": model.lineage.dataset_version,
            "code_version": model.lineage.code_version,
            "accuracy": model.metrics.get("accuracy"),
            "macro_f1": model.metrics.get("macro_f1"),
            "average_accuracy": model.metrics.get("average_accuracy"),
            "backward_transfer": model.metrics.get("backward_transfer"),
            "metrics_json": json.dumps(model.metrics, default=str),
            "reason": reason,
        }])  # fmt: skip
        return model
