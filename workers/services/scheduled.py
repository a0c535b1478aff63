"""The scheduled checks: retrain policy and metrics export, through seams in core.

Workers never import ``retraining`` or monitoring code directly; those engineers expose a
function in core (named below), and these tasks call it when it exists. Until then each task
does its own part and records what it skipped.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from typing import Any

import redis

from core import tasks
from core.queue import count_queued
from core.settings import Settings
from core.warehouse import Warehouse
from core.warehouse.records import record_event, utcnow

log = logging.getLogger(__name__)
RETRAIN_SEAM = ("core.retrain_policy", "check_retrain")
EXPORT_SEAM = ("core.metrics.exporter", "export_metrics")
SKIPPED_RETRAIN = "skipped: retraining not installed"


def find_seam(module: str, function: str) -> Callable[..., Any] | None:
    """Return ``module.function`` when that module exists in core, else None."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    candidate = getattr(found, function, None)
    return candidate if callable(candidate) else None


def check_retrain(
    settings: Settings, warehouse: Warehouse, send_task: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """Run the retrain policy; enqueue RETRAIN when a rule fires."""
    policy = find_seam(*RETRAIN_SEAM)
    if policy is None:
        record_event(
            warehouse,
            "check",
            fired=False,
            rule=SKIPPED_RETRAIN,
            details={"seam": ".".join(RETRAIN_SEAM)},
        )
        log.warning("retrain check %s", SKIPPED_RETRAIN)
        return {"fired": False, "rule": SKIPPED_RETRAIN}
    decision = dict(policy(settings))
    if decision.get("fired") and send_task is not None:
        send_task(tasks.RETRAIN, kwargs={"rule": decision.get("rule")}, queue=tasks.TRAINING_QUEUE)
        decision["enqueued"] = tasks.RETRAIN
    return json.loads(json.dumps(decision, default=str))  # type: ignore[no-any-return]


def record_queue_depths(warehouse: Warehouse, client: redis.Redis) -> dict[str, int]:
    """Write the current queue depths as metric points (one per queue per minute)."""
    depths = count_queued(client)
    now = utcnow().replace(second=0, microsecond=0)
    rows = [
        {
            "point_id": f"queue_depth:{queue}:{now.isoformat()}",
            "created_at": now,
            "metric": "queue_depth",
            "value": float(depth),
            "labels_json": json.dumps({"queue": queue}),
        }
        for queue, depth in depths.items()
    ]
    warehouse.insert("metric_points", rows)
    return depths


def export_metrics(settings: Settings, warehouse: Warehouse, client: redis.Redis) -> dict[str, Any]:
    """Record queue depths, then run the metrics exporter when it is installed."""
    summary: dict[str, Any] = {"queue_depth": record_queue_depths(warehouse, client)}
    exporter = find_seam(*EXPORT_SEAM)
    if exporter is None:
        summary["export"] = "skipped: metrics exporter not installed"
        log.warning("metrics export skipped: %s not found", ".".join(EXPORT_SEAM))
    else:
        summary["export"] = json.loads(json.dumps(exporter(settings), default=str))
    return summary
