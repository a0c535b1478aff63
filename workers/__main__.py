"""``python -m workers worker|beat``: run a Celery worker or the beat scheduler from settings."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

from core import tasks
from core.errors import ConfigurationError
from core.logs import configure_logging
from core.settings import Settings, load_settings
from workers.celery_app import create_celery
from workers.options import WorkerOptions

DEFAULT_QUEUES = f"{tasks.INFERENCE_QUEUE},{tasks.DEFAULT_QUEUE}"


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(prog="python -m workers")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run a worker (prefork pool)")
    worker.add_argument("-c", "--concurrency", type=int, default=None, help="worker processes")
    worker.add_argument("-Q", "--queues", default=DEFAULT_QUEUES, help="queues to consume")
    worker.add_argument("-n", "--hostname", default=None, help="node name")
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument(
        "--visibility-timeout",
        type=float,
        default=None,
        help="seconds before an unacknowledged message is delivered again",
    )
    worker.add_argument(
        "--restore-interval",
        type=float,
        default=None,
        help="seconds between sweeps for messages whose consumer died",
    )
    worker.add_argument("--max-deliveries", type=int, default=None, help="poison limit")
    worker.add_argument(
        "--classifier",
        default=None,
        help="module:callable(settings, store) building the predictor (default: production)",
    )
    beat = sub.add_parser("beat", help="run the beat scheduler")
    beat.add_argument("--loglevel", default="INFO")
    return parser


def run_worker(settings: Settings, args: argparse.Namespace) -> None:
    """Start a worker consuming the inference and default queues."""
    options = WorkerOptions.from_settings(
        settings,
        visibility_timeout=args.visibility_timeout,
        restore_interval=args.restore_interval,
        max_deliveries=args.max_deliveries,
        classifier=args.classifier,
    )
    app = create_celery(settings, options)
    hostname = args.hostname or f"creature-vis@{socket.gethostname()}"
    app.worker_main(
        [
            "worker",
            f"--loglevel={args.loglevel}",
            f"--concurrency={args.concurrency or settings.workers.concurrency}",
            f"--queues={args.queues}",
            f"--hostname={hostname}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


def run_beat(settings: Settings, args: argparse.Namespace) -> None:
    """Start beat, keeping its schedule state under the data directory."""
    app = create_celery(settings)
    state = settings.data_dir / "beat"
    state.mkdir(parents=True, exist_ok=True)
    app.Beat(loglevel=args.loglevel, schedule=str(state / "schedule")).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load settings and run."""
    args = build_parser().parse_args(argv)
    configure_logging(args.command, level=args.loglevel)  # "worker" or "beat"
    try:
        settings = load_settings()
        if args.command == "worker":
            run_worker(settings, args)
        else:
            run_beat(settings, args)
    except ConfigurationError as exc:
        print(f"workers: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
