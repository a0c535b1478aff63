"""``python -m retraining``: the entry point a worker starts and the Vertex AI container runs.

* ``check``: review a staged version (when ``promotion.staging`` is on), then run the trigger
  policy once (both logged); print {"fired", "rule"}.
* ``worker``: consume RETRAIN tasks on the training queue (see ``retraining.worker``).
* ``retrain [--force]``: check and, when a rule fires, run one full round; print the outcome.
* ``train --dataset-version D --parent-version V [--output DIR]``: train a challenger head on
  a frozen dataset version and write it to DIR, or to ``AIP_MODEL_DIR`` when Vertex AI runs
  the container. It neither evaluates nor promotes: the caller does that.

Every command prints one JSON object on stdout and exits 0 on success, 1 on a domain error,
2 on bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from core.errors import ConfigurationError, CreatureVisError
from core.logs import configure_logging
from core.settings import Settings, load_settings

AIP_MODEL_DIR = "AIP_MODEL_DIR"  # set by Vertex AI inside a custom job's container


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the three commands."""
    parser = argparse.ArgumentParser(prog="python -m retraining")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="run the trigger policy once")
    check_parser.add_argument(
        "--force", action="store_true", help="fire whatever the thresholds say (logged)"
    )
    worker = commands.add_parser("worker", help="consume RETRAIN tasks on the training queue")
    worker.add_argument("--loglevel", default="INFO")
    retrain = commands.add_parser("retrain", help="check, and retrain when a rule fires")
    retrain.add_argument("--force", action="store_true", help="retrain even if no rule fires")
    train = commands.add_parser("train", help="train a challenger head (container entry)")
    train.add_argument("--dataset-version", required=True)
    train.add_argument("--parent-version", required=True)
    train.add_argument("--output", help=f"output directory (default: ${AIP_MODEL_DIR})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and print its JSON result."""
    args = build_parser().parse_args(argv)
    configure_logging("training")
    try:
        result = _run(args)
    except ConfigurationError as exc:
        print(f"python -m retraining: {exc}", file=sys.stderr)
        return 2
    except CreatureVisError as exc:
        print(f"python -m retraining: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, default=str))
    return 0


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from retraining.check import scheduled_check
    from retraining.loop import retrain
    from retraining.resources import open_resources

    settings = load_settings()
    if args.command == "worker":
        from retraining.worker import run_worker

        run_worker(settings, args.loglevel)
        return {"stopped": True}
    resources = open_resources(settings)
    if args.command == "check":
        decision = scheduled_check(resources, settings.triggers, settings.promotion,
                                   force=args.force)  # fmt: skip
        return {"fired": decision.fired, "rule": decision.rule}
    if args.command == "retrain":
        return retrain(resources, settings, force=args.force).to_json()
    # Vertex AI tells the container where to write through AIP_MODEL_DIR (read by Settings).
    output = args.output or settings.training.model_dir
    if not output:
        raise ConfigurationError(f"train needs --output or ${AIP_MODEL_DIR}")
    return _train(resources, settings, args.dataset_version, args.parent_version, output)


def _train(
    resources: Any, settings: Settings, dataset_version: str, parent: str, output: str
) -> dict[str, Any]:
    from retraining import datasets
    from retraining.loop import features_of, local_trainer
    from retraining.train import TrainConfig
    from retraining.vertex import write_artifacts

    manifest = datasets.load_version(resources.store, "train", dataset_version)
    features_of(resources, [e.image_id for e in manifest.examples])  # computes only unseen
    config = TrainConfig.from_settings(settings.training)
    head = local_trainer(resources.registry, resources.features, manifest, parent, config)
    info = {"dataset_version": dataset_version, "parent_version": parent,
            "examples": len(manifest.examples)}  # fmt: skip
    return {**info, "written": write_artifacts(output, head, info)}


if __name__ == "__main__":
    sys.exit(main())
