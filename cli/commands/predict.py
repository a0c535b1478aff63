"""``creature-vis predict PHOTO...``: print the top 3 labels for each photo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.errors import CreatureVisError
from core.model.handle import ModelHandle
from core.model.preprocess import load
from core.settings import Settings


def register(subparsers: Any) -> None:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser("predict", help="print the top 3 labels for photos")
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="photo files")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Predict with the production model; exit 1 if any photo could not be read."""
    classifier = ModelHandle.from_settings(settings).get()
    failed = 0
    for path in args.photos:
        try:
            image = load(path)
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            failed += 1
            continue
        except CreatureVisError as exc:
            print(f"{path}: {exc.user_message}", file=sys.stderr)
            failed += 1
            continue
        (prediction,) = classifier.predict([image])
        top3 = ", ".join(f"{label} {p:.3f}" for label, p in prediction.top3)
        print(f"{path}: {top3}")
    print(f"model version: {classifier.version}")
    return 1 if failed else 0
