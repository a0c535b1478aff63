"""The training worker: a Celery worker on the training queue that runs RETRAIN.

``check_retrain`` (beat, in ``workers``) enqueues ``core.tasks.RETRAIN`` on the training queue
when a rule fires; this worker (``python -m retraining worker``) consumes it and runs one
round in-process (or submits the Vertex AI job, per ``retrain.backend``). It is a separate
process so that a long retrain never delays inference, and so that ``workers`` need not
import ``retraining``. The task is idempotent: a redelivered message finds the answers
already frozen in a dataset version and ends as "nothing new".
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from core import tasks
from core.queue import configure
from core.settings import Settings

TIME_LIMIT = 3 * 3600


def create_training_celery(settings: Settings) -> Celery:
    """Build the Celery app of the training worker, with its one task."""
    app = Celery("creature_vis_training", set_as_current=False)
    configure(app, settings)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": TIME_LIMIT + 600},
    )

    @app.task(name=tasks.RETRAIN, time_limit=TIME_LIMIT, soft_time_limit=TIME_LIMIT - 60)  # type: ignore[untyped-decorator]
    def retrain_task(rule: str | None = None, force: bool = True) -> dict[str, Any]:
        from retraining.context import LoopContext
        from retraining.loop import retrain

        ctx = LoopContext.from_settings(settings)
        reason = f"enqueued after {rule}" if rule else "enqueued"
        return retrain(ctx, force=force, forced_rule=reason).to_json()

    del retrain_task
    return app


def run_worker(settings: Settings, loglevel: str = "INFO") -> None:
    """Consume the training queue with one solo process until stopped."""
    app = create_training_celery(settings)
    app.worker_main(["worker", "-Q", tasks.TRAINING_QUEUE, "--pool", "solo",
                     "-n", "training@%h", "--loglevel", loglevel])  # fmt: skip
