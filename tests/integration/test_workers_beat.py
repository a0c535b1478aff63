"""Beat and ``creature-vis status``: the schedule from settings, run by real processes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from cli.commands.status import collect_status, render
from cli.main import main
from core.queue import enqueue_classify, queue_depths, task_client
from core.schemas import ClassifyRequest
from core.warehouse import open_warehouse
from testkit.workers_support import (
    make_data_dir,
    running_worker,
    settings_for,
    wait_until,
    worker_env,
)
from tests.conftest import REPO
from tests.fakes.colour_classifier import TEST_CLASSIFIER

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_status_shows_the_schedule_from_settings_and_the_queue_depth(
    tmp_path: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = worker_env(make_data_dir(tmp_path / "var"), redis_url,
                     CREATURE_VIS_SCHEDULE__CHECK_RETRAIN_SECONDS="600")  # fmt: skip
    settings = settings_for(env)
    client = task_client(settings)
    for _ in range(2):  # no worker runs: they wait in the queue
        enqueue_classify(client, ClassifyRequest(interaction_id=uuid.uuid4().hex,
                                                 image_id="a" * 64, channel="api"))  # fmt: skip
    status = collect_status(settings)
    assert {e["entry"]: e["every_seconds"] for e in status["schedule"]} == {
        "check-retrain": 600, "acquire-photos": 86400}  # fmt: skip
    assert status["queues"]["depth"]["inference"] == 2
    assert status["queues"]["workers"] == 0
    assert status["queues"]["interactions_pending"] == 0
    assert "every    600 s" in render(status)
    for name in list(env):
        monkeypatch.setenv(name, env[name])
    assert main(["status", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["queues"]["depth"]["inference"] == 2


def test_status_says_when_redis_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = worker_env(tmp_path, "redis://127.0.0.1:1/0")
    for name in list(env):
        monkeypatch.setenv(name, env[name])
    assert main(["status"]) == 1
    assert "Redis unreachable" in capsys.readouterr().out


def test_beat_runs_the_scheduled_tasks_on_a_worker(tmp_path: Path, redis_url: str) -> None:
    data_dir = make_data_dir(tmp_path / "var")
    env = worker_env(data_dir, redis_url,
                     CREATURE_VIS_SCHEDULE__CHECK_RETRAIN_SECONDS="3",
                     CREATURE_VIS_SCHEDULE__ACQUIRE_PHOTOS_SECONDS="2")  # fmt: skip
    with running_worker(env, tmp_path / "worker.log", "--classifier", TEST_CLASSIFIER) as worker:
        log = (tmp_path / "beat.log").open("wb")
        beat = subprocess.Popen([sys.executable, "-m", "workers", "beat"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:

            def ran(task: str) -> int:
                return len(re.findall(rf"Task {task}\[[^]]+\] succeeded", worker.log()))

            wait_until(lambda: ran("creature_vis.acquire_photos") >= 2, 60, "two acquisitions")
            # The retrain check goes to the training queue, for the training worker.
            client = task_client(settings_for(env))
            wait_until(lambda: queue_depths(client)["training"] >= 1, 60, "a retrain check")
            client.close()
            assert ran("creature_vis.check_retrain") == 0
            assert "no access key" in worker.log()  # without API keys it says what it skipped
        finally:
            beat.send_signal(signal.SIGTERM)
            assert beat.wait(timeout=20) == 0
            log.close()


def test_a_worker_without_redis_url_says_which_variable_to_set(tmp_path: Path) -> None:
    env = worker_env(tmp_path, "")
    del env["REDIS_URL"]
    done = subprocess.run([sys.executable, "-m", "workers", "worker"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "REDIS_URL is not set" in done.stderr


def test_status_shows_the_production_model_and_key_figures(tmp_path: Path, redis_url: str) -> None:
    from core.model.handle import open_registry
    from core.warehouse.records import interaction_row, record_feedback, record_interaction

    settings = settings_for(worker_env(make_data_dir(tmp_path / "var"), redis_url))
    open_registry(settings).ensure_taxonomy()
    warehouse = open_warehouse(settings)
    for n, label in enumerate(["dog", "cat"]):
        record_interaction(warehouse, interaction_row(
            interaction_id=f"i{n}", channel="web", image_id="b" * 64, model_version="v0",
            top3=[("dog", 0.9)], latency_ms=10.0))  # fmt: skip
        record_feedback(warehouse, interaction_id=f"i{n}", user_id="web:1",
                        correct=label == "dog", label=label)  # fmt: skip
    status = collect_status(settings)
    assert status["model"]["production"] == "v0"
    assert status["figures"]["answers"] == 2
    assert status["figures"]["incorrect"] == 1
    assert status["figures"]["rolling_accuracy"] == 0.5
    text = render(status)
    assert "Production model: v0" in text
    assert "Rolling accuracy: 50.0% over the latest 2 answers" in text
