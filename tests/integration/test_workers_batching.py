"""Photos waiting in the queue with their model input are predicted together, each logged once.

A real worker (``python -m workers worker``, the colour classifier) on a private Redis
database; requests carry ``pixels`` as the bot sends them. The classifier can hold its first
prediction, so the photos sent meanwhile are waiting when the next task starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import numpy as np
import pytest
import redis

from core.model.preprocess import INPUT_SHAPE, pack_input
from core.queue import enqueue_classify, queue_depths, waiting_kwargs
from core.schemas import ClassifyRequest
from core.task_results import await_classify
from core.tasks import CLASSIFY, INFERENCE_QUEUE
from testkit.workers_support import (
    WorkerProcess,
    running_worker,
    wait_until,
)
from tests.fakes.colour_classifier import label_for
from tests.integration.test_workers_reliability import WORKER_ARGS, Scene

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def request_for(rgb: tuple[int, int, int]) -> ClassifyRequest:
    """A request as the bot sends it: a solid-colour model input travels with it."""
    pixels = np.empty(INPUT_SHAPE, np.uint8)
    pixels[...] = rgb
    return ClassifyRequest(
        interaction_id=uuid.uuid4().hex,
        image_id=hashlib.sha256(bytes(rgb) + uuid.uuid4().bytes).hexdigest(),
        channel="telegram",
        user_id="telegram:7",
        pixels=pack_input(pixels),
    )


def colours(n: int) -> list[tuple[int, int, int]]:
    return [(20 + 13 * i, 200 - 11 * i, 60 + 7 * i) for i in range(n)]


def logged_rows(scene: Scene, ids: list[str]) -> dict[str, dict[str, object]]:
    """The interactions rows of ``ids`` the warehouse holds, by id."""
    found = scene.warehouse.query(
        "SELECT interaction_id, latency_ms FROM interactions WHERE interaction_id IN UNNEST(@ids)",
        {"ids": ids},
    )
    return {str(row["interaction_id"]): row for row in found}


def test_waiting_messages_are_read_in_delivery_order_and_stay_queued(
    tmp_path: Path, redis_url: str
) -> None:
    scene = Scene(tmp_path, redis_url, {})
    requests = [request_for(rgb) for rgb in colours(3)]
    for request in requests:
        enqueue_classify(scene.client, request)
    client = redis.Redis.from_url(redis_url)
    waiting = waiting_kwargs(client, INFERENCE_QUEUE, CLASSIFY, 8)
    assert [w["interaction_id"] for w in waiting] == [r.interaction_id for r in requests]
    assert waiting[0]["pixels"] == requests[0].pixels
    assert waiting_kwargs(client, INFERENCE_QUEUE, CLASSIFY, 2) == waiting[:2]
    assert waiting_kwargs(client, INFERENCE_QUEUE, "creature_vis.other", 8) == []
    assert queue_depths(scene.client)["inference"] == 3  # nothing taken


def test_photos_waiting_are_predicted_in_one_batch_and_each_logged_once(
    tmp_path: Path, redis_url: str
) -> None:
    scene = Scene(tmp_path, redis_url, {"hold_seconds": 3, "hold_once": True})
    first, *later = [request_for(rgb) for rgb in colours(7)]
    with running_worker(scene.env, tmp_path / "worker.log", *WORKER_ARGS):
        results = [enqueue_classify(scene.client, first)]
        wait_until(scene.holding_pid, 30, "the first photo to be under way")
        results += [enqueue_classify(scene.client, request) for request in later]
        answers = [asyncio.run(await_classify(result, timeout=60)) for result in results]
        ids = [r.interaction_id for r in [first, *later]]
        wait_until(
            lambda: len(logged_rows(scene, ids)) == 7, 30, "every interaction in the warehouse"
        )
        rows = logged_rows(scene, ids)
    for answer, request, rgb in zip(answers, [first, *later], colours(7), strict=True):
        assert answer.interaction_id == request.interaction_id
        assert answer.top3[0].label == label_for(rgb)
    # The six sent while the first was held were waiting together: one batch, one latency.
    assert len({rows[r.interaction_id]["latency_ms"] for r in later}) == 1
    count = scene.warehouse.query("SELECT COUNT(*) AS n FROM interactions")[0]["n"]
    assert count == 7


def test_a_worker_killed_mid_batch_loses_none_of_the_photos(tmp_path: Path, redis_url: str) -> None:
    scene = Scene(tmp_path, redis_url, {"hold_seconds": 60, "hold_once": True})
    requests = [request_for(rgb) for rgb in colours(4)]
    results = [enqueue_classify(scene.client, request) for request in requests]  # all waiting
    first = WorkerProcess(scene.env, tmp_path / "first.log", *WORKER_ARGS).start()
    try:
        wait_until(scene.holding_pid, 30, "the batch to be under way")
        first.kill()  # the leader dies holding the batch; the others were never taken
    finally:
        first.stop()
    with running_worker(scene.env, tmp_path / "second.log", *WORKER_ARGS):
        answers = [asyncio.run(await_classify(result, timeout=90)) for result in results]
    for answer, rgb in zip(answers, colours(4), strict=True):
        assert answer.top3[0].label == label_for(rgb)
    ids = [r.interaction_id for r in requests]
    wait_until(lambda: len(logged_rows(scene, ids)) == 4, 30, "every interaction in the warehouse")
    assert scene.warehouse.query("SELECT COUNT(*) AS n FROM interactions")[0]["n"] == 4
