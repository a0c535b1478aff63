"""Reliability with real processes: killed workers, a restarted Redis, poison messages.

Workers run ``python -m workers worker`` with the tiny colour classifier (its misbehaviour is
steered by a file in the data dir) and a short visibility timeout, so a message whose
consumer vanished is handed out again within seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.images import intake
from core.photos import store_photo
from core.queue import TaskFailed, enqueue_classify, queue_depths, task_client
from core.schemas import ClassifyRequest
from core.storage import open_store
from core.task_results import await_classify
from core.warehouse import open_warehouse
from testkit.workers_support import (
    SHARED_REDIS,
    RedisServer,
    WorkerProcess,
    claim_redis_db,
    make_data_dir,
    release_redis_db,
    running_worker,
    settings_for,
    wait_until,
    worker_env,
)
from tests.fakes.colour_classifier import CONFIG_NAME, TEST_CLASSIFIER, label_for, solid_png

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
FAST_REDELIVERY = ("--visibility-timeout", "3", "--restore-interval", "1")
WORKER_ARGS = ("--classifier", TEST_CLASSIFIER, *FAST_REDELIVERY)


@pytest.fixture(scope="module")
def redis_db() -> Iterator[int]:
    db = claim_redis_db()
    yield db
    release_redis_db(db)


class Scene:
    """A data dir, its settings and helpers to add photos and count interactions."""

    def __init__(self, root: Path, redis_url: str, classifier: dict[str, Any]) -> None:
        self.root = root
        self.data_dir = make_data_dir(root / "var")
        (self.data_dir / CONFIG_NAME).write_text(json.dumps(classifier))
        self.env = worker_env(self.data_dir, redis_url)
        self.settings = settings_for(self.env)
        self.store = open_store(self.settings)
        self.warehouse = open_warehouse(self.settings)
        self.client = task_client(self.settings)

    def worker(self, name: str = "worker") -> WorkerProcess:
        return WorkerProcess(self.env, self.root / f"{name}.log", *WORKER_ARGS)

    def request(self, rgb: tuple[int, int, int]) -> ClassifyRequest:
        photo = intake(solid_png(rgb))
        store_photo(self.store, self.warehouse, photo, source="upload")
        return ClassifyRequest(interaction_id=uuid.uuid4().hex, image_id=photo.sha256,
                               channel="telegram")  # fmt: skip

    def logged_once(self, interaction_id: str) -> bool:
        """Wait until the interaction reaches the warehouse; say whether it is there once."""
        wait_until(lambda: self.logged(interaction_id), 30, "the interaction in the warehouse")
        return self.logged(interaction_id) == 1

    def logged(self, interaction_id: str) -> int:
        rows = self.warehouse.query(
            "SELECT COUNT(*) AS n FROM interactions WHERE interaction_id = @id",
            {"id": interaction_id},
        )
        return int(rows[0]["n"])

    def holding_pid(self) -> int | None:
        folder = self.data_dir / "holding"
        pids = [p.name for p in folder.iterdir() if p.name.isdigit()] if folder.exists() else []
        return int(pids[0]) if pids else None


def test_a_pool_process_killed_mid_classify_is_redelivered_and_logged_once(
    tmp_path: Path, redis_db: int
) -> None:
    scene = Scene(tmp_path, f"{SHARED_REDIS}/{redis_db}", {"hold_seconds": 60, "hold_once": True})
    with running_worker(scene.env, tmp_path / "worker.log", *WORKER_ARGS) as worker:
        request = scene.request((10, 120, 200))
        result = enqueue_classify(scene.client, request)
        pid = wait_until(scene.holding_pid, 30, "classify to be under way")
        assert pid in worker.children()
        os.kill(pid, signal.SIGKILL)
        answer = asyncio.run(await_classify(result, timeout=60))
        assert answer.top3[0].label == label_for((10, 120, 200))
        assert scene.logged_once(request.interaction_id)
        assert "SIGKILL" in worker.log() or "signal 9" in worker.log()
        assert queue_depths(scene.client) == {"inference": 0, "default": 0, "training": 0,
                                              "unacked": 0}  # fmt: skip


def test_a_whole_worker_killed_mid_classify_hands_the_task_to_another(
    tmp_path: Path, redis_db: int
) -> None:
    scene = Scene(tmp_path, f"{SHARED_REDIS}/{redis_db}", {"hold_seconds": 60, "hold_once": True})
    first = scene.worker("first").start()
    try:
        request = scene.request((30, 200, 40))
        result = enqueue_classify(scene.client, request)
        wait_until(scene.holding_pid, 30, "classify to be under way")
        first.kill()  # main process and pool, no chance to requeue anything
        assert queue_depths(scene.client)["unacked"] == 1
    finally:
        first.stop()
    with running_worker(scene.env, tmp_path / "second.log", *WORKER_ARGS):
        answer = asyncio.run(await_classify(result, timeout=90))
    assert answer.interaction_id == request.interaction_id
    assert scene.logged_once(request.interaction_id)


def test_a_message_that_kills_its_worker_is_refused_after_three_deliveries(
    tmp_path: Path, redis_db: int
) -> None:
    scene = Scene(tmp_path, f"{SHARED_REDIS}/{redis_db}", {"kill_on_red": True})
    with running_worker(scene.env, tmp_path / "worker.log", *WORKER_ARGS) as worker:
        poison = scene.request((250, 10, 10))
        healthy = scene.request((10, 10, 250))
        poisoned = enqueue_classify(scene.client, poison)
        fine = enqueue_classify(scene.client, healthy)
        with pytest.raises(TaskFailed) as failure:
            asyncio.run(await_classify(poisoned, timeout=120))
        assert failure.value.error_type == "PoisonMessage"
        assert asyncio.run(await_classify(fine, timeout=60)).top3
        assert worker.log().count("exited with 'signal 9 (SIGKILL)'") == 3
        assert f"refusing creature_vis.classify[{poisoned.id}]" in worker.log()
        assert scene.logged_once(healthy.interaction_id)
        assert scene.logged(poison.interaction_id) == 0


def test_work_resumes_after_redis_restarts_with_tasks_queued(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    try:
        scene = Scene(tmp_path, server.url, {"hold_seconds": 0.2})
        requests = [scene.request((i * 7 % 256, 40, 90)) for i in range(20)]
        with running_worker(scene.env, tmp_path / "worker.log", *WORKER_ARGS) as worker:
            results = [enqueue_classify(scene.client, r) for r in requests]
            wait_until(lambda: sum(r.ready() for r in results) >= 3, 60, "a few tasks done")
            assert queue_depths(scene.client)["inference"] > 0
            server.stop()
            assert worker.process is not None and worker.process.poll() is None
            server.start()
            for result in results:
                asyncio.run(await_classify(result, timeout=120))
            assert "Connection to broker lost" in worker.log()
        assert all(scene.logged_once(r.interaction_id) for r in requests)
    finally:
        server.stop()
