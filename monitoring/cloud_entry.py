"""Entry points of the exporter for Cloud Scheduler: a Cloud Run job and an HTTP function.

Both sample the Celery queues first when Redis is configured (``monitoring.periodic``).
Cloud Run job: ``python -m monitoring export`` in the project's image, which calls
``run_job`` (exit code 0 on success, 1 when the write failed, so the job's retry policy
applies). Cloud Functions / an HTTP service: ``export_metrics_http`` takes the request and
answers JSON.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from core.errors import ConfigurationError
from core.settings import load_settings
from monitoring.exporter import ExportFailed
from monitoring.periodic import export_with_queues

log = logging.getLogger(__name__)


def run_job() -> int:
    """Sample the queues and export once (settings from the environment); return an exit code."""
    try:
        _, result = export_with_queues(load_settings())
    except ConfigurationError as exc:
        log.error("configuration: %s", exc)
        return 2
    except ExportFailed as exc:
        log.error("%s", exc)
        return 1
    log.info("export: %s", json.dumps(result.to_json()))
    return 2 if result.skipped and result.until is None else 0


def export_metrics_http(request: Any = None) -> tuple[str, int, dict[str, str]]:
    """HTTP handler (Cloud Functions signature): run once, answer the export's result as JSON."""
    body: dict[str, object]
    try:
        _, result = export_with_queues(load_settings())
    except ExportFailed as exc:
        body, status = {"error": str(exc)}, 502
    except ConfigurationError as exc:
        body, status = {"error": str(exc)}, 500
    else:
        body, status = result.to_json(), 200
    return json.dumps(body), status, {"Content-Type": "application/json"}
