"""The scheduled metrics export, through ``core.metrics`` (the sink and the InfluxDB exporter).

The retrain check is not here: beat sends it to the training queue, whose worker owns the
loop (``retraining.worker``).
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from core.metrics import exporter, open_sink
from core.metrics.queues import record_queue_depths, record_workers_online
from core.settings import Settings
from core.storage import ImageStore
from core.warehouse import Warehouse

log = logging.getLogger(__name__)


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
