"""``creature-vis export-metrics``: ship aggregates to InfluxDB once (or bootstrap it)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from core.errors import ConfigurationError
from core.settings import Settings
from monitoring.exporter import ExportFailed, export_metrics


def register(subparsers: Any) -> None:
    """Add the ``export-metrics`` subcommand."""
    parser = subparsers.add_parser(
        "export-metrics", help="export metric aggregates to InfluxDB since the last watermark"
    )
    parser.add_argument("--since", type=_time, help="window start, ISO 8601 (re-export)")
    parser.add_argument("--until", type=_time, help="window end, ISO 8601 (default: now)")
    parser.add_argument(
        "--bootstrap",
        action="store_true",
        help="first create the bucket with its retention and the InfluxQL mapping",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Export once and print what was written as JSON."""
    try:
        if args.bootstrap:
            _bootstrap(settings)
        result = export_metrics(settings, since=args.since, until=args.until)
    except (ConfigurationError, ExportFailed) as exc:
        print(f"creature-vis: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigurationError) else 1
    print(json.dumps(result.to_json(), indent=2))
    if result.skipped and result.until is None:
        print(f"creature-vis: export skipped: {result.skipped}", file=sys.stderr)
        return 2
    return 0


def _bootstrap(settings: Settings) -> None:
    from monitoring import influx

    client = influx.open_client(settings)
    try:
        done = influx.bootstrap(client, settings)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    print(json.dumps({"bootstrap": done.__dict__}))


def _time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
