"""The retrain check: ``python -m retraining check`` and the training worker's CHECK_RETRAIN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from core import tasks
from core.queue import DELIVERIES_KEY, PoisonMessage, queue_depths, task_client
from core.settings import RETRAIN_TIME_LIMIT_SECONDS, RedisSettings, Settings
from core.warehouse import open_warehouse
from retraining.worker import create_training_celery
from testkit.workers_support import SHARED_REDIS, claim_redis_db, release_redis_db
from workers.options import WorkerOptions


def test_check_prints_the_decision_and_logs_it(settings: Settings) -> None:
    env = {**os.environ, "CREATURE_VIS_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "retraining", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"fired": False, "rule": "no rule fired: no new labels"}
    rows = open_warehouse(settings).query("SELECT kind, fired FROM retrain_events")
    assert rows == [{"kind": "check", "fired": False}]


@pytest.fixture
def on_redis(settings: Settings) -> Iterator[Settings]:
    """The test's settings on a database of the session's Redis of its own."""
    db = claim_redis_db()
    yield settings.model_copy(update={"redis": RedisSettings(url=f"{SHARED_REDIS}/{db}")})
    release_redis_db(db)


def test_the_training_worker_checks_once_refuses_a_round_that_keeps_dying_and_outlasts_it(
    on_redis: Settings,
) -> None:
    # One app per process: Celery keeps the first callable registered under a task name.
    settings = on_redis
    app = create_training_celery(settings)
    quiet = app.tasks[tasks.CHECK_RETRAIN].apply(kwargs={}).get()
    assert quiet == {"fired": False, "rule": "no rule fired: no new labels"}
    forced = app.tasks[tasks.CHECK_RETRAIN].apply(kwargs={"force": True}).get()
    assert (forced["fired"], forced["rule"]) == (True, "forced by an admin")
    assert forced["enqueued"] == tasks.RETRAIN
    client = task_client(settings)
    assert queue_depths(client)["training"] == 1
    client.close()
    kwargs = {"rule": forced["rule"], "checked": True}
    outcome = app.tasks[tasks.RETRAIN].apply(kwargs=kwargs).get()
    assert (outcome["status"], outcome["rule"]) == ("nothing new", "forced by an admin")
    checks = open_warehouse(settings).query(
        "SELECT fired FROM retrain_events WHERE kind = 'check' ORDER BY created_at"
    )
    assert checks == [{"fired": False}, {"fired": True}]  # the round did not check again

    # A round that keeps killing its worker is refused once it was delivered too often.
    redis.Redis.from_url(str(settings.redis.url)).set(
        f"{DELIVERIES_KEY}:killer:0", settings.workers.max_deliveries
    )
    result = app.tasks[tasks.RETRAIN].apply(kwargs={}, task_id="killer")
    with pytest.raises(PoisonMessage):
        result.get()
    assert len(open_warehouse(settings).query("SELECT * FROM retrain_events")) == 2

    # Every consumer of the one unacked index outlasts a round.
    training = app.conf.broker_transport_options["visibility_timeout"]
    workers = WorkerOptions.from_settings(settings).visibility_timeout
    assert training == workers > RETRAIN_TIME_LIMIT_SECONDS
