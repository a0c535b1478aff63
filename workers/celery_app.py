"""The workers' Celery application, built by ``create_celery(settings)``.

JSON only; late acknowledgement with ``task_reject_on_worker_lost`` so a task whose process
dies is delivered again (every task is idempotent); one prefetched message per process; time
limits on every task. The model loads in each worker process after the fork.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from core import heap
from core.queue import configure
from core.settings import Settings
from workers import tasks
from workers.context import ContextHolder, WorkerContext, load_factory, open_context
from workers.infrastructure.interaction_log import Flusher
from workers.options import WorkerOptions
from workers.schedule import beat_schedule

log = logging.getLogger(__name__)


def create_celery(settings: Settings, options: WorkerOptions | None = None) -> Celery:
    """Build the workers' Celery app with its tasks, schedule and process hooks."""
    options = options or WorkerOptions.from_settings(settings)
    app = Celery("creature_vis", set_as_current=False)
    configure(app, settings)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        task_soft_time_limit=60,
        task_time_limit=120,
        worker_max_tasks_per_child=None,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": options.visibility_timeout,
            "unacked_restore_interval": options.restore_interval,
            "unacked_restore_throttle": 1,
        },
        beat_schedule=beat_schedule(settings),
    )
    holder = ContextHolder()
    app.creature_vis_holder = holder
    app.creature_vis_options = options
    tasks.register(app, holder, options)
    _install_hooks(app, settings, holder, options)
    return app


def _install_hooks(
    app: Celery, settings: Settings, holder: ContextHolder, options: WorkerOptions
) -> None:
    factory = load_factory(options.classifier)
    flushers: list[Flusher] = []

    def started(context: WorkerContext) -> None:
        flusher = Flusher(context.interactions, options.flush_seconds, context.answers)
        flusher.start()
        flushers.append(flusher)
        heap.settle()  # the context (model, clients) lives as long as this worker process

    def start(**_: Any) -> None:
        # A start that meets a busy warehouse keeps trying; it never leaves the process broken.
        holder.build(lambda: open_context(settings, factory), started)

    def stop(**_: Any) -> None:
        holder.stop_building()
        while flushers:
            flushers.pop().stop()
        holder.set(None)

    uid = f"creature-vis-{id(app)}"
    worker_process_init.connect(start, weak=False, dispatch_uid=f"{uid}-init")
    worker_process_shutdown.connect(stop, weak=False, dispatch_uid=f"{uid}-shutdown")
