"""``creature-vis retrain [--force]``: run the trigger policy and, if it fires, one round."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.errors import CreatureVisError
from core.progress import Progress
from core.settings import Settings
from retraining.loop import Outcome, retrain
from retraining.resources import open_resources


def register(subparsers: Any) -> None:
    """Add the ``retrain`` subcommand."""
    parser = subparsers.add_parser("retrain", help="check the triggers and retrain if one fires")
    parser.add_argument("--force", action="store_true", help="retrain even if no rule fires")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print which rule fired (or why none did) and what became of the challenger."""
    try:
        resources = open_resources(settings, progress=Progress.for_terminal("retrain"))
        outcome = retrain(resources, settings, force=args.force)
    except CreatureVisError as exc:
        print(f"creature-vis retrain: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(outcome.to_json(), default=str))
    else:
        print(describe(outcome))
    return 0


def describe(outcome: Outcome) -> str:
    """Render an outcome as the lines people read."""
    lines = [f"check: {'fired' if outcome.fired else 'not fired'} ({outcome.rule})"]
    if outcome.fired:
        lines.append(
            f"dataset: {outcome.dataset_version or '-'}  test: {outcome.test_version or '-'}"
        )
        lines.append(f"challenger: {outcome.challenger or '-'}  status: {outcome.status}")
        if outcome.reason:
            lines.append(f"reason: {outcome.reason}")
        lines.append(f"seconds: {outcome.seconds:.1f}")
    lines.append(f"production: {outcome.production}")
    return "\n".join(lines)
