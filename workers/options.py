"""The options of a worker process, shared by the Celery app and its tasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.settings import Settings


@dataclass(frozen=True)
class WorkerOptions:
    """Knobs of the worker process (from the ``workers`` settings section)."""

    # An unacknowledged message is handed out again after this long; it must exceed the
    # longest task of any queue (the retrain round), since all restore from one index.
    visibility_timeout: float
    # How often a worker looks for messages whose consumer died (kombu default: ~100 s).
    restore_interval: float
    # Deliveries of one attempt before a message that keeps killing its worker is refused.
    max_deliveries: int
    # How often each worker process writes pending interactions to the warehouse.
    flush_seconds: float
    # ``module:callable`` building the predictor; None = the registry's production model.
    classifier: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WorkerOptions:
        """Options from the ``workers`` settings section; ``None`` overrides are ignored."""
        section = settings.workers
        values: dict[str, Any] = {
            "visibility_timeout": section.visibility_timeout_seconds,
            "restore_interval": section.restore_interval_seconds,
            "max_deliveries": section.max_deliveries,
            "flush_seconds": section.flush_seconds,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
