"""Entry point of the ``creature-vis`` console script.

Every module in ``cli.commands`` registers one subcommand; its handler receives the parsed
arguments and the Settings built here, once, from the environment.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from importlib import metadata

from cli import commands
from core.errors import ConfigurationError
from core.logs import configure_logging
from core.settings import load_settings


def installed_version() -> str:
    """The installed creature-vis version, or "unknown" when running from a bare checkout."""
    try:
        return metadata.version("creature-vis")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand found in ``cli.commands``."""
    parser = argparse.ArgumentParser(
        prog="creature-vis", description="A continual-learning animal classifier."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load settings and run the chosen subcommand."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("cli", level=logging.DEBUG if args.verbose else logging.INFO)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"creature-vis: {exc}", file=sys.stderr)
        return 2
    code: int = args.handler(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main())
