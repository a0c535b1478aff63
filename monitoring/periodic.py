"""Sample the queues into the sink, then export to InfluxDB: once, or once per period.

This used to be a beat task inside the workers; here monitoring stays a component of its
own, and the Cloud Run job does the same as one period. A failed periodic run is logged and
the next period tries again (the exporter's watermark makes that safe); only a configuration
error ends the loop.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from core.errors import ConfigurationError
from core.metrics import open_sink
from core.metrics.sink import MetricsSink
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.warehouse import Warehouse, open_warehouse
from monitoring.exporter import ExportResult, export_metrics
from monitoring.queues import sample_queues

log = logging.getLogger(__name__)


def record_queues(settings: Settings, sink: MetricsSink) -> dict[str, Any] | None:
    """Sample the queues into the sink when Redis is configured; None when it is not.

    A broker that cannot be reached is logged and the export goes on without the sample.
    """
    if not settings.redis.url:
        return None
    try:
        return sample_queues(settings, sink)
    except Exception as exc:  # any broker trouble: the export still runs
        log.warning("queue sample skipped: %s", exc)
        return None


def export_with_queues(
    settings: Settings, warehouse: Warehouse | None = None, store: ImageStore | None = None
) -> tuple[dict[str, Any] | None, ExportResult]:
    """Record the queue sample in the sink, then export once; return both outcomes."""
    warehouse = warehouse or open_warehouse(settings)
    store = store or open_store(settings)
    sink = open_sink(settings, warehouse)
    queues = record_queues(settings, sink)
    sink.flush()
    return queues, export_metrics(settings, warehouse=warehouse, store=store, sink=sink)


def sample_and_export(
    settings: Settings, warehouse: Warehouse, store: ImageStore
) -> dict[str, Any]:
    """One periodic run as JSON: the queue sample and what the export did."""
    queues, result = export_with_queues(settings, warehouse, store)
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
