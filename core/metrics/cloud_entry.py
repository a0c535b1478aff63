"""Entry points of the exporter for Cloud Scheduler: a Cloud Run job and an HTTP function.

Cloud Run job: ``python -m core.metrics.cloud_entry`` in the project's image (exit code 0 on
success, 1 when the write failed, so the job's retry policy applies). Cloud Functions /
an HTTP service: ``export_metrics_http`` takes the request and answers JSON.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from core.errors import ConfigurationError
from core.metrics.exporter import ExportFailed, export_metrics
from core.settings import load_settings

log = logging.getLogger(__name__)


def run_job() -> int:
    """Export once with settings from the environment; return a process exit code."""
    try:
        result = export_metrics(load_settings())
    except ConfigurationError as exc:
        log.error("configuration: %s", exc)
        return 2
    except ExportFailed as exc:
        log.error("%s", exc)
        return 1
    log.info("export: %s", json.dumps(result.to_json()))
    return 2 if result.skipped and result.until is None else 0


def export_metrics_http(request: Any = None) -> tuple[str, int, dict[str, str]]:
    """HTTP handler (Cloud Functions signature): export once, answer the result as JSON."""
    body: dict[str, object]
    try:
        result = export_metrics(load_settings())
    except ExportFailed as exc:
        body, status = {"error": str(exc)}, 502
    except ConfigurationError as exc:
        body, status = {"error": str(exc)}, 500
    else:
        body, status = result.to_json(), 200
    return json.dumps(body), status, {"Content-Type": "application/json"}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(run_job())
