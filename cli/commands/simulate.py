"""``creature-vis simulate``: replay a photo folder as users and run the real retraining loop."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from core.labels import VALID_LABELS
from core.progress import Progress
from core.settings import Settings
from core.storage import open_store
from retraining.adversaries import Adversary
from retraining.resources import open_resources
from retraining.simulate import Burst, load_photos, simulate, stratified_split


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand."""
    parser = subparsers.add_parser(
        "simulate", help="replay photos as users; retrain round by round"
    )
    parser.add_argument("--stream", type=Path, required=True, metavar="DIR",
                        help="<label>/<photo> folders sent by simulated users")  # fmt: skip
    parser.add_argument("--test", type=Path, required=True, metavar="DIR",
                        help="photos to score on (same as --stream: split)")  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, help="retraining rounds (default 4; with --labels-per-round: at most)"
    )
    parser.add_argument("--labels-per-round", type=int, metavar="N",
                        help="rounds of N answers each, until the stream ends")  # fmt: skip
    parser.add_argument("--noise", type=float, default=0.0, metavar="P",
                        help="share of wrong answers, all from unreliable users")  # fmt: skip
    parser.add_argument("--adversary", type=_adversary, metavar="KIND:SHARE",
                        help="attackers answering SHARE of the answers: noise, always:LABEL, "
                        "swap:A/B or collude (e.g. collude:0.2)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of split, order and users")
    parser.add_argument("--test-fraction", type=float, default=0.3,
                        help="test share per label when splitting")  # fmt: skip
    parser.add_argument("--burst", metavar="LABEL", choices=VALID_LABELS,
                        help="all of LABEL in one round (shifted stream)")  # fmt: skip
    parser.add_argument("--burst-round", type=int, default=2, metavar="N",
                        help="the round of the burst (default 2)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="state directory (default: a fresh temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the simulation and print one line per round (or the JSON object)."""
    for folder in (args.stream, args.test):
        if not folder.is_dir():
            print(f"creature-vis simulate: {folder} is not a directory", file=sys.stderr)
            return 2
    rounds = args.rounds if args.rounds is not None or args.labels_per_round else 4
    if (rounds is not None and rounds < 1) or not 0 <= args.noise <= 1:
        print("creature-vis simulate: need --rounds >= 1 and 0 <= --noise <= 1", file=sys.stderr)
        return 2
    if args.labels_per_round is not None and (args.labels_per_round < 1 or args.burst):
        print("creature-vis simulate: need --labels-per-round >= 1, and no --burst with it",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.burst and not 1 <= args.burst_round <= rounds:
        print("creature-vis simulate: need 1 <= --burst-round <= --rounds", file=sys.stderr)
        return 2
    burst = Burst(args.burst, args.burst_round) if args.burst else None
    stream = load_photos(args.stream)
    if args.stream.resolve() == args.test.resolve():
        stream, test = stratified_split(stream, args.test_fraction, args.seed)
    else:
        test = load_photos(args.test)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="simulate-", dir=settings.data_dir) as temp:
        workdir = args.workdir or Path(temp)
        world = settings.model_copy(update={"data_dir": workdir})
        (workdir / "cache").mkdir(parents=True, exist_ok=True)
        resources = open_resources(world, feature_store=open_store(settings),
                                   engine=_shared_engine(settings),
                                   progress=Progress.for_terminal("simulate"))  # fmt: skip
        result = simulate(resources, world, stream, test, rounds=rounds, noise=args.noise,
                          seed=args.seed, burst=burst,
                          labels_per_round=args.labels_per_round,
                          adversary=args.adversary)  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        _print_rounds(result)
    return 0


def _adversary(text: str) -> Adversary:
    try:
        return Adversary.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shared_engine(settings: Settings) -> Any:
    from core.model.runtime import open_engine

    return lambda: open_engine(settings)


def _print_rounds(result: dict[str, Any]) -> None:
    for item in result["rounds"]:
        print(
            f"round {item['round']}: labels seen {item['labels_seen']}, "
            f"production {item['model_version']}, accuracy {item['accuracy']:.4f}, "
            f"macro-F1 {item['macro_f1']:.4f}, forgetting {item['forgetting']:.4f}, "
            f"retrain {item['retrain_seconds']:.1f}s"
        )
        if item["adversary_detection_auroc"] is not None:
            print(f"  adversaries: {item['test_labels_from_adversaries']} test labels, "
                  f"detection AUROC {item['adversary_detection_auroc']:.3f}")  # fmt: skip
        shown = ", ".join(f"{k} {'-' if v is None else f'{v:.2f}'}"
                          for k, v in item["per_label"].items())  # fmt: skip
        print(f"  per label: {shown}")
        if item["estimated_accuracy"] is not None:
            print(f"  served: {_served(item)}")


def _served(item: dict[str, Any]) -> str:
    found = item["estimated_accuracy"]
    figures = [f"true accuracy {item['answered_accuracy']:.4f}"]
    for name in ("cbpe", "atc"):
        if found[name] is not None:
            e = found[name]
            figures.append(f"{name.upper()} {e['value']:.4f} [{e['low']:.4f}, {e['high']:.4f}]")
    check = item["check"]
    held = ", ".join(check["holding"]) if check else "-"
    raw = "" if found["calibrated"] else " (uncalibrated)"
    return f"{', '.join(figures)}{raw}; check held: {held or 'none'}"
