"""The training worker: a Celery worker on the training queue, owner of the retrain loop.

Beat (and an admin's /retrain) sends ``core.tasks.CHECK_RETRAIN`` to the training queue; this
worker (``python -m retraining worker``) runs the staging review and the trigger policy,
logs the check, and when a rule fires enqueues ``RETRAIN`` with that decision, which it then
runs as one round in-process (or as a Vertex AI job, per ``training.backend``) without
checking again. It is a separate process so that a long retrain never delays inference. The
round is idempotent: a redelivered message finds the answers already frozen in a dataset
version and ends as "nothing new".
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery

from core import tasks
from core.queue import configure, count_delivery, forget_deliveries
from core.settings import RETRAIN_TIME_LIMIT_SECONDS, Settings

TIME_LIMIT = RETRAIN_TIME_LIMIT_SECONDS


def create_training_celery(settings: Settings) -> Celery:
    """Build the Celery app of the training worker, with its one task."""
    app = Celery("creature_vis_training", set_as_current=False)
    configure(app, settings)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        # The same timeout as every other consumer of this Redis (one unacked index).
        broker_transport_options={
            "visibility_timeout": settings.workers.visibility_timeout_seconds
        },
    )

    @app.task(name=tasks.CHECK_RETRAIN, time_limit=300, soft_time_limit=240)  # type: ignore[untyped-decorator]
    def check_task(force: bool = False) -> dict[str, Any]:
        from retraining.check import scheduled_check
        from retraining.resources import open_resources

        decision = scheduled_check(open_resources(settings), settings.triggers,
                                   settings.promotion, force=force)  # fmt: skip
        answer: dict[str, Any] = {"fired": decision.fired, "rule": decision.rule}
        if decision.fired:
            round_ = app.send_task(tasks.RETRAIN, kwargs={"rule": decision.rule, "checked": True},
                                   queue=tasks.TRAINING_QUEUE)  # fmt: skip
            answer.update(enqueued=tasks.RETRAIN, retrain_task_id=round_.id)
        return answer

    @app.task(name=tasks.RETRAIN, bind=True, time_limit=TIME_LIMIT,  # type: ignore[untyped-decorator]
              soft_time_limit=TIME_LIMIT - 60)  # fmt: skip
    def retrain_task(
        self: Any, rule: str | None = None, force: bool = True, checked: bool = False
    ) -> dict[str, Any]:
        from retraining.loop import retrain
        from retraining.resources import open_resources
        from retraining.triggers import Decision

        attempt = (self.request.id, self.request.retries)
        with redis.Redis.from_url(str(settings.redis.url)) as client:
            # A round that keeps killing its worker (out of memory) is refused, not looped.
            count_delivery(client, *attempt, settings.workers.max_deliveries)
            resources = open_resources(settings)
            if checked and rule:  # the check that enqueued it fired and was logged
                outcome = retrain(resources, settings, decision=Decision(True, rule, {}))
            else:
                reason = f"enqueued after {rule}" if rule else "enqueued"
                outcome = retrain(resources, settings, force=force, forced_rule=reason)
            forget_deliveries(client, *attempt)
        return outcome.to_json()

    del check_task, retrain_task
    return app


def run_worker(settings: Settings, loglevel: str = "INFO") -> None:
    """Consume the training queue with one solo process until stopped."""
    app = create_training_celery(settings)
    app.worker_main(["worker", "-Q", tasks.TRAINING_QUEUE, "--pool", "solo",
                     "-n", "training@%h", "--loglevel", loglevel])  # fmt: skip
