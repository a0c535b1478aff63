"""``creature-vis acquire [LABEL...]``: pull photos from Unsplash/Pexels once, with progress.

The same acquisition the beat schedule runs on a worker, run here on a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from core.progress import Progress
from core.settings import Settings
from core.storage import open_store
from core.warehouse import open_warehouse
from workers.services.acquisition import AcquireRequest, Library, acquire_from_settings


def register(subparsers: Any) -> None:
    """Add the ``acquire`` subcommand."""
    parser = subparsers.add_parser("acquire", help="pull training photos from the photo APIs")
    parser.add_argument("labels", nargs="*", metavar="LABEL", help="labels to pull (default all)")
    parser.add_argument("--per-label", type=int, help="new photos per label (default: settings)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Acquire once and print what was stored per label and each source's state."""
    try:
        request = AcquireRequest(labels=args.labels or None, per_label=args.per_label)
    except ValidationError as exc:
        print(f"creature-vis acquire: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    library = Library(open_store(settings), open_warehouse(settings, create=True), settings.images)
    progress = Progress.for_terminal("acquire")
    report = acquire_from_settings(settings, library, request, progress)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    for name, state in report.sources.items():
        print(f"{name}: {state}")
    print(f"stored {report.stored} photos")
    return 0
