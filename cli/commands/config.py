"""``creature-vis config``: show the effective configuration or the README table."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.settings import Settings, settings_table


def register(subparsers: Any) -> None:
    """Add the ``config`` subcommand."""
    parser = subparsers.add_parser("config", help="show the effective configuration")
    parser.add_argument("--table", action="store_true", help="print the README's settings table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print settings as JSON (secrets masked) or the markdown table."""
    if args.table:
        print(settings_table())
    else:
        print(json.dumps(settings.model_dump(mode="json"), indent=2, default=str))
    return 0
