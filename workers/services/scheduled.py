"""The scheduled checks: retrain policy and metrics export, through seams in core.

Workers never import ``retraining``: the retrain policy is looked up in core (named below)
and called when it exists; until then the check records that it skipped. Metrics go through
``core.metrics`` (the sink and the InfluxDB exporter).
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from typing import Any

import redis

from core import tasks
from core.metrics import exporter, open_sink
from core.metrics.queues import record_queue_depths, record_workers_online
from core.settings import Settings
from core.storage import ImageStore
from core.warehouse import Warehouse
from core.warehouse.records import record_event

log = logging.getLogger(__name__)
RETRAIN_SEAM = ("core.retrain_policy", "check_retrain")
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
    settings: Settings,
    warehouse: Warehouse,
    send_task: Callable[..., Any] | None = None,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Run the retrain policy (``force`` ignores its thresholds); enqueue RETRAIN if it fires."""
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
    decision = dict(policy(settings, force=force))
    if decision.get("fired") and send_task is not None:
        send_task(tasks.RETRAIN, kwargs={"rule": decision.get("rule")}, queue=tasks.TRAINING_QUEUE)
        decision["enqueued"] = tasks.RETRAIN
    return json.loads(json.dumps(decision, default=str))  # type: ignore[no-any-return]


def export_metrics(
    settings: Settings,
    warehouse: Warehouse,
    store: ImageStore,
    client: redis.Redis,
    workers_online: int | None = None,
) -> dict[str, Any]:
    """Record queue depths (and live workers) in the metrics sink, then export to InfluxDB."""
    sink = open_sink(settings, warehouse)
    depths = record_queue_depths(sink, client)
    if workers_online is not None:
        record_workers_online(sink, workers_online)
    sink.flush()
    result = exporter.export_metrics(settings, warehouse=warehouse, store=store, sink=sink)
    return {"queue_depth": depths, "workers_online": workers_online, "export": result.to_json()}
