"""The periodic exporter: sample the queues, then export to InfluxDB, once per period.

It replaces what a beat task used to do inside the workers, so that monitoring stays a
component of its own. A failed run is logged and the next period tries again (the
exporter's watermark makes that safe); only a configuration error ends the loop.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from core.errors import ConfigurationError
from core.metrics import open_sink
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.warehouse import Warehouse, open_warehouse
from monitoring.exporter import export_metrics
from monitoring.queues import sample_queues

log = logging.getLogger(__name__)


def sample_and_export(
    settings: Settings, warehouse: Warehouse, store: ImageStore
) -> dict[str, Any]:
    """Record queue figures in the sink (when Redis is configured), then export once."""
    sink = open_sink(settings, warehouse)
    queues = sample_queues(settings, sink) if settings.redis.url else None
    sink.flush()
    result = export_metrics(settings, warehouse=warehouse, store=store, sink=sink)
    return {"queues": queues, "export": result.to_json()}


def run_periodic(settings: Settings, period: float, stop: threading.Event) -> int:
    """Sample and export every ``period`` seconds until ``stop`` is set; return an exit code."""
    warehouse, store = open_warehouse(settings), open_store(settings)
    log.info("exporting metrics every %g s", period)
    while not stop.is_set():
        try:
            outcome = sample_and_export(settings, warehouse, store)
        except ConfigurationError as exc:
            log.error("configuration: %s", exc)
            return 2
        except Exception:  # any failure: logged, and the next period retries
            log.exception("metrics run failed; retrying in %g s", period)
        else:
            log.info("metrics run: %s", json.dumps(outcome))
        stop.wait(period)
    return 0
