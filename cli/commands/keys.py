"""``creature-vis keys``: issue, list and revoke the API keys that name API callers as people.

A key is printed once, when it is created; only its sha256 is kept. A revoked key stops
working on running servers within ``server.api_key_cache_seconds``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.commands.models import operator
from core.api_keys import ApiKey, issue_key, list_keys, revoke_key
from core.errors import UnknownApiKey
from core.settings import Settings
from core.warehouse import open_warehouse


def register(subparsers: Any) -> None:
    """Add the ``keys`` subcommand and its actions."""
    parser = subparsers.add_parser("keys", help="issue, list and revoke API keys")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="issue a key (printed once)")
    create.add_argument("note", help="whom the key is for, e.g. 'Ada, field survey app'")
    create.add_argument(
        "--admin",
        action="store_true",
        help="an admin's key: its answers are trusted outright and may judge models",
    )
    actions.add_parser("list", help="list keys (never the keys themselves)")
    revoke = actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id", help="the key's id, as `keys list` shows it")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out the chosen action on the warehouse's api_keys table."""
    warehouse = open_warehouse(settings)
    try:
        if args.action == "create":
            key, record = issue_key(
                warehouse, note=args.note, operator=operator(), admin=args.admin
            )
            role = "an admin" if record.admin else "a person"
            print(f"key id: {record.key_id}  (answers as {record.user_id}, {role})")
            print(f"key:    {key}")
            print("Keep the key now: it is not stored and cannot be shown again.")
        elif args.action == "revoke":
            record = revoke_key(warehouse, args.key_id, operator=operator())
            print(f"revoked {record.key_id} ({record.note})")
        else:
            print_keys(list_keys(warehouse))
    except UnknownApiKey as exc:
        print(f"creature-vis keys: {exc}", file=sys.stderr)
        return 1
    finally:
        warehouse.close()
    return 0


def print_keys(keys: list[ApiKey]) -> None:
    """One line per key: id, state, when made and revoked, the note."""
    print(
        f"{'key id':<14} {'role':<7} {'state':<8} {'created (UTC)':<17} {'revoked (UTC)':<17} note"
    )
    for key in keys:
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-"
        print(
            f"{key.key_id:<14} {'admin' if key.admin else 'person':<7} "
            f"{'active' if key.active else 'revoked':<8} "
            f"{key.created_at.strftime('%Y-%m-%d %H:%M'):<17} {revoked:<17} {key.note}"
        )
