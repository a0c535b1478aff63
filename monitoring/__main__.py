"""``python -m monitoring export|periodic``: ship metrics to InfluxDB once or every period.

* ``export``: one export since the watermark, as the Cloud Run job runs it; exit 0 on
  success, 1 when the write failed, 2 when not configured.
* ``periodic [--every SECONDS]``: sample the Celery queues and export, every
  ``CREATURE_VIS_SCHEDULE__EXPORT_METRICS_SECONDS`` by default, until SIGTERM or Ctrl-C
  (``creature-vis run`` starts it this way).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from core.errors import ConfigurationError
from core.logs import configure_logging
from core.settings import load_settings
from monitoring.cloud_entry import run_job
from monitoring.periodic import run_periodic


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the two commands."""
    parser = argparse.ArgumentParser(prog="python -m monitoring")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("export", help="export once since the watermark")
    periodic = commands.add_parser("periodic", help="sample the queues and export every period")
    periodic.add_argument(
        "--every", type=float, default=None, help="seconds between runs (default: settings)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    args = build_parser().parse_args(argv)
    configure_logging("exporter")
    if args.command == "export":
        return run_job()
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"python -m monitoring: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return run_periodic(settings, args.every or settings.schedule.export_metrics_seconds, stop)


if __name__ == "__main__":
    sys.exit(main())
