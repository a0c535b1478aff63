"""``creature-vis models``: list model versions, promote one, or roll production back."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from core.errors import ModelArtifactError
from core.model.handle import open_registry
from core.model.lifecycle import Lifecycle
from core.model.registry import ModelRegistry
from core.settings import Settings
from core.warehouse import open_warehouse


def register(subparsers: Any) -> None:
    """Add the ``models`` subcommand."""
    parser = subparsers.add_parser("models", help="list model versions (* marks production)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--promote", metavar="VERSION", help="make VERSION the production model")
    action.add_argument(
        "--rollback", action="store_true", help="move production back to the previous version"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List versions (creating model v0 on first use), or move the production pointer."""
    registry = open_registry(settings)
    registry.ensure_taxonomy()
    try:
        lifecycle = Lifecycle(registry, open_warehouse(settings))
        if args.promote:
            lifecycle.promote(args.promote, reason=f"promoted by {operator()}")
            print(f"production: {args.promote}")
        elif args.rollback:
            print(f"production: {lifecycle.rollback(by=operator())[1]}")
        else:
            print_versions(registry)
    except ModelArtifactError as exc:
        print(f"creature-vis models: {exc}", file=sys.stderr)
        return 1
    return 0


def operator() -> str:
    """Who runs the command, for the audit rows."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a container user with no name
        return "cli"


def print_versions(registry: ModelRegistry) -> None:
    """Print one line per version, production marked with ``*``."""
    production = registry.production()
    print(f"  {'version':<10} {'kind':<9} {'created':<26} {'parent':<8} {'dataset':<12} accuracy")
    for version in registry.versions():
        mark = "*" if version == production else " "
        try:
            model = registry.get(version)
        except ModelArtifactError as exc:
            print(f"{mark} {version:<10} CORRUPT: {exc}")
            continue
        accuracy = model.metrics.get("accuracy")
        shown = "-" if accuracy is None else f"{float(accuracy):.4f}"
        lineage = model.lineage
        created = lineage.created or "built in"
        print(
            f"{mark} {version:<10} {model.kind:<9} {created[:26]:<26} "
            f"{lineage.parent_version or '-':<8} {lineage.dataset_version or '-':<12} {shown}"
        )
