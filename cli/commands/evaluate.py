"""``creature-vis evaluate DIR``: score a model version on ``DIR/<label>/<photo>`` folders."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import CreatureVisError
from core.model.handle import load_classifier, open_registry
from core.model.metrics import format_report
from core.settings import Settings
from retraining.folder_evaluation import evaluate_folder


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` subcommand."""
    parser = subparsers.add_parser("evaluate", help="score a model on labelled photo folders")
    parser.add_argument("directory", type=Path, metavar="DIR", help="holds <label>/<photo> files")
    parser.add_argument("--model", metavar="VERSION", help="model version (default: production)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print accuracy, macro-F1, per-label recall and the confusion matrix."""
    if not args.directory.is_dir():
        print(f"creature-vis evaluate: {args.directory} is not a directory", file=sys.stderr)
        return 2
    try:
        version = args.model or _production(settings)
        evaluation = evaluate_folder(load_classifier(settings, version), args.directory)
    except CreatureVisError as exc:
        print(f"creature-vis evaluate: {exc}", file=sys.stderr)
        return 1
    if not evaluation.paths:
        print(f"creature-vis evaluate: no labelled photos under {args.directory}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(evaluation.to_json(), indent=2))
    else:
        print(format_report(evaluation.scores, evaluation.model_version))
        print(_calibration_lines(evaluation.to_json()))
        if evaluation.skipped:
            print(f"\nskipped {len(evaluation.skipped)} unreadable photos")
    return 0


def _calibration_lines(figures: dict[str, Any]) -> str:
    ece, nll, temperature = figures["ece"], figures["nll"], figures["temperature"]
    fitted = "none fitted yet" if temperature is None else f"T={temperature:.3f}"
    lines = ["", f"calibration: {fitted}",
             f"  ECE raw {ece['raw']:.4f}, calibrated {ece['calibrated']:.4f}",
             f"  NLL raw {nll['raw']:.4f}, calibrated {nll['calibrated']:.4f}"]  # fmt: skip
    sets = figures["conformal"]
    if sets:
        right = sets["singleton_accuracy"]
        lines.append(
            f"answer sets (target {sets['target']:.2f}): coverage {sets['coverage']:.4f}, "
            f"mean size {sets['mean_set_size']:.3f}, one label {sets['singleton_share']:.3f}"
            + ("" if right is None else f" (right {right:.4f})")
        )
    return "\n".join(lines)


def _production(settings: Settings) -> str:
    registry = open_registry(settings)
    registry.ensure_taxonomy()
    version = registry.production()
    assert version is not None  # noqa: S101  (ensure_taxonomy sets one)
    return version
