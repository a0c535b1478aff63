"""``creature-vis people``: how far answers are trusted, and the least reliable people.

The same figures as the bot's /stats and the web status view (``core.trust``). An API key
of someone found unreliable is revoked with ``creature-vis keys revoke``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from core.settings import Settings
from core.trust import trust_report
from core.warehouse import open_warehouse
from core.warehouse.records import utcnow


def register(subparsers: Any) -> None:
    """Add the ``people`` subcommand."""
    parser = subparsers.add_parser(
        "people", help="the week's trusted, down-weighted and refused answers; least reliable"
    )
    parser.add_argument("--least-reliable", type=int, default=10, metavar="N",
                        help="list the N least reliable people (default 10)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the week's answer counts and the least reliable people."""
    report = trust_report(open_warehouse(settings), settings.curation, utcnow(),
                          limit=args.least_reliable)  # fmt: skip
    if args.json:
        people = [{"user_id": who, "reliability": value, "answers": count}
                  for who, value, count in report.least_reliable]  # fmt: skip
        print(json.dumps({"week": asdict(report.week), "least_reliable": people}))
        return 0
    week = report.week
    print(f"This week's answers: {week.trusted} trusted, {week.down_weighted} down-weighted, "
          f"{week.refused} refused")  # fmt: skip
    print("Least reliable people (reliability, answers):")
    for who, value, count in report.least_reliable:
        print(f"  {who}: {value:.2f}, {count}")
    if not report.least_reliable:
        print("  nobody has answered yet")
    return 0
