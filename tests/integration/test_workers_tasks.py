"""The workers' tasks end to end: a real worker process with the real model, on real Redis.

One worker (module scope) serves every test here: classify real photos, log interactions and
feedback exactly once, refuse bad messages without retrying, answer the monitoring's queue
sampling, and acquire photos from the local fake Unsplash and Pexels.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from kombu import Connection

from core import tasks
from core.images import intake
from core.labels import VALID_LABELS
from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from core.model.handle import open_registry
from core.model.registry import Lineage
from core.photos import store_photo
from core.queue import (
    TaskFailed,
    enqueue,
    enqueue_classify,
    enqueue_feedback,
    queue_depths,
    task_client,
)
from core.schemas import ClassifyRequest, ClassifyResult, FeedbackRequest
from core.settings import Settings
from core.storage import open_store
from core.task_results import await_classify, await_result
from core.warehouse import Warehouse, open_warehouse
from core.warehouse.records import get_interaction
from monitoring.periodic import sample_and_export
from testkit.workers_support import (
    SHARED_REDIS,
    WorkerProcess,
    claim_redis_db,
    make_data_dir,
    release_redis_db,
    running_worker,
    settings_for,
    wait_until,
    worker_env,
)
from tests.conftest import ANIMALS_DEV
from tests.fakes.photo_apis import FakePhotoApis

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.datasets, pytest.mark.timeout(300)]
UNSPLASH_KEY, PEXELS_KEY = "unsplash-test-key", "pexels-test-key"


class Stack:
    """The running worker and what a test needs around it."""

    def __init__(self, worker: WorkerProcess, settings: Settings, apis: FakePhotoApis) -> None:
        self.worker = worker
        self.settings = settings
        self.apis = apis
        self.client = task_client(settings)
        self.warehouse: Warehouse = open_warehouse(settings)
        self.store = open_store(settings)

    def add_photo(self, path: Path) -> str:
        """Store a photo as a person's upload would be; return its image id."""
        photo = intake(path.read_bytes())
        store_photo(self.store, self.warehouse, photo, source="upload", user_id="web:tester")
        return photo.sha256

    def logged(self, interaction_id: str) -> dict[str, object]:
        """The interactions row, once the worker's flusher has written it."""
        return wait_until(lambda: get_interaction(self.warehouse, interaction_id), 30,
                          f"interaction {interaction_id} in the warehouse")  # fmt: skip

    def rows(self, table: str, where: str = "TRUE", **params: object) -> list[dict[str, object]]:
        return self.warehouse.query(f"SELECT * FROM {table} WHERE {where}", params)  # noqa: S608


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not ANIMALS_DEV.is_dir():
        pytest.skip(f"reference photos not found at {ANIMALS_DEV}")
    root = tmp_path_factory.mktemp("workers-tasks")
    data_dir = make_data_dir(root / "var")
    apis = FakePhotoApis(ANIMALS_DEV, UNSPLASH_KEY, PEXELS_KEY).start()
    db = claim_redis_db()
    env = {
        "CREATURE_VIS_PHOTOS__UNSPLASH_ACCESS_KEY": UNSPLASH_KEY,
        "CREATURE_VIS_PHOTOS__PEXELS_API_KEY": PEXELS_KEY,
        "CREATURE_VIS_PHOTOS__UNSPLASH_BASE_URL": apis.unsplash_url,
        "CREATURE_VIS_PHOTOS__PEXELS_BASE_URL": apis.pexels_url,
    }
    full_env = worker_env(data_dir, f"{SHARED_REDIS}/{db}", **env)
    try:
        with running_worker(full_env, root / "worker.log") as worker:
            yield Stack(worker, settings_for(full_env), apis)
    finally:
        apis.stop()
        release_redis_db(db)


def photos(label: str, count: int) -> list[Path]:
    found = sorted(p for p in (ANIMALS_DEV / label).glob("*.jpg") if not p.name.startswith("cifar"))
    return found[:count]


def new_id() -> str:
    return uuid.uuid4().hex


async def test_classify_real_photos_with_the_production_model(stack: Stack) -> None:
    requests = []
    for label in ("dog", "elephant", "zebra"):
        for path in photos(label, 2):
            image_id = stack.add_photo(path)
            requests.append((label, ClassifyRequest(
                interaction_id=new_id(), image_id=image_id, channel="telegram",
                user_id="telegram:7", chat_id="7")))  # fmt: skip
    results = [enqueue_classify(stack.client, request) for _, request in requests]
    answers = await asyncio.gather(*(await_classify(r, timeout=60) for r in results))
    pairs = [
        (label, answer.top3[0].label) for (label, _), answer in zip(requests, answers, strict=True)
    ]
    assert sum(label == said for label, said in pairs) >= 5, pairs
    for (_, request), answer in zip(requests, answers, strict=True):
        assert answer.model_version == "v0"
        row = stack.logged(request.interaction_id)
        assert row["predicted_label"] == answer.top3[0].label
        assert row["image_id"] == request.image_id and row["chat_id"] == "7"
        assert len(json.loads(str(row["probabilities_json"]))) == 16


async def test_a_repeated_classify_is_logged_once_and_answers_the_same(stack: Stack) -> None:
    image_id = stack.add_photo(photos("cat", 1)[0])
    request = ClassifyRequest(interaction_id=new_id(), image_id=image_id, channel="web")
    first = await await_classify(enqueue_classify(stack.client, request), timeout=60)
    second = await await_classify(enqueue_classify(stack.client, request), timeout=60)
    assert second == first
    stack.logged(request.interaction_id)
    rows = stack.rows("interactions", "interaction_id = @id", id=request.interaction_id)
    assert len(rows) == 1


async def test_feedback_is_recorded_once_even_when_sent_twice(stack: Stack) -> None:
    image_id = stack.add_photo(photos("horse", 1)[0])
    request = ClassifyRequest(interaction_id=new_id(), image_id=image_id, channel="telegram")
    await await_classify(enqueue_classify(stack.client, request), timeout=60)
    answer = FeedbackRequest(
        interaction_id=request.interaction_id, user_id="telegram:7", correct=False,
        label="giraffe", feedback_id=new_id())  # fmt: skip
    first = await await_result(enqueue_feedback(stack.client, answer), timeout=60)
    await await_result(enqueue_feedback(stack.client, answer), timeout=60)
    assert first["label"] == "giraffe" and first["is_correct"] is False
    rows = stack.rows("feedback", "interaction_id = @id", id=request.interaction_id)
    assert [(r["label"], r["user_id"]) for r in rows] == [("giraffe", "telegram:7")]


async def test_feedback_on_an_unknown_interaction_fails_with_a_clear_error(stack: Stack) -> None:
    answer = FeedbackRequest(interaction_id="never-issued-1", user_id="u", correct=True)
    result = enqueue(stack.client, tasks.RECORD_FEEDBACK, answer, countdown=0)
    # Classify holds every interaction in Redis at once: one found nowhere is refused at once.
    with pytest.raises(TaskFailed) as failure:
        await await_result(result, timeout=120)
    assert failure.value.error_type == "UnknownInteraction"
    assert "unknown" in failure.value.user_message


async def test_a_bad_payload_fails_at_once_with_a_logged_error(stack: Stack) -> None:
    result = stack.client.send_task(
        tasks.CLASSIFY, kwargs={"interaction_id": "x", "image_id": "not-a-sha"}, queue="inference"
    )
    with pytest.raises(TaskFailed) as failure:
        await await_result(result, timeout=30)
    assert failure.value.error_type == "InvalidTaskPayload"
    assert result.info is None  # read once by then deleted from Redis
    wait_until(lambda: "refusing a creature_vis.classify message" in stack.worker.log(), 10,
               "the refusal in the worker log")  # fmt: skip
    assert f"Task {tasks.CLASSIFY}[{result.id}] retry" not in stack.worker.log()
    assert queue_depths(stack.client)["inference"] == 0


async def test_a_photo_we_do_not_hold_fails_without_retries(stack: Stack) -> None:
    request = ClassifyRequest(interaction_id=new_id(), image_id="0" * 64, channel="api")
    with pytest.raises(TaskFailed) as failure:
        await await_classify(enqueue_classify(stack.client, request), timeout=30)
    assert failure.value.error_type == "ObjectNotFound"
    assert f"[{request.interaction_id}]" not in stack.worker.log()


def test_a_message_in_a_refused_serialisation_is_dropped_and_logged(stack: Stack) -> None:
    # A pickled body (the serialisation an attacker would choose) must never be decoded.
    with Connection(stack.settings.redis.url) as connection:
        producer = connection.Producer(serializer="pickle")
        producer.publish({"evil": True}, routing_key="inference", exchange="inference",
                         headers={"task": tasks.CLASSIFY, "id": new_id()})  # fmt: skip
    wait_until(lambda: "application/x-python-serialize" in stack.worker.log(), 20,
               "the refusal of the pickled message")  # fmt: skip
    wait_until(lambda: queue_depths(stack.client)["inference"] == 0, 10, "the queue to drain")
    # The worker keeps working afterwards.
    image_id = stack.add_photo(photos("fish", 1)[0])
    request = ClassifyRequest(interaction_id=new_id(), image_id=image_id, channel="api")
    assert asyncio.run(await_classify(enqueue_classify(stack.client, request), 60)).top3


def test_monitoring_samples_the_queues_and_counts_the_live_worker(stack: Stack) -> None:
    outcome = sample_and_export(stack.settings, stack.warehouse, stack.store)
    assert set(outcome["queues"]["queue_depth"]) == {"inference", "default", "training", "unacked"}
    assert outcome["queues"]["workers_online"] == 1
    # No InfluxDB is configured here: the exporter says so and nothing else happens.
    assert outcome["export"]["skipped"] == "CREATURE_VIS_MONITORING__INFLUX_URL unset"
    rows = stack.rows("metric_points", "metric = 'queue_depth'")
    assert {json.loads(str(r["labels_json"]))["queue"] for r in rows} >= {"inference", "default"}
    assert stack.rows("metric_points", "metric = 'workers_online' AND value = 1")


async def test_acquire_photos_through_the_worker(stack: Stack) -> None:
    payload = {"labels": ["giraffe", "deer"], "per_label": 4}
    outcome = await await_result(
        stack.client.send_task(tasks.ACQUIRE_PHOTOS, kwargs=payload, queue="default"), 120
    )
    assert outcome["stored"] == 8, outcome
    assert outcome["sources"] == {"unsplash": "ok", "pexels": "ok"}
    rows = stack.rows("images", "source IN ('unsplash', 'pexels')")
    assert {r["weak_label"] for r in rows} == {"giraffe", "deer"}
    assert {r["source"] for r in rows} == {"unsplash", "pexels"}
    assert all(r["license"] and r["attribution"] and r["source_id"] for r in rows)
    searches = stack.apis.hits("/unsplash/search/photos")
    assert searches[0].headers["Authorization"] == f"Client-ID {UNSPLASH_KEY}"
    assert searches[0].headers["Accept-Version"] == "v1"
    assert stack.apis.hits("/pexels/v1/search")[0].headers["Authorization"] == PEXELS_KEY


async def test_a_promoted_model_is_served_without_restarting_the_worker(stack: Stack) -> None:
    registry = open_registry(stack.settings, stack.store)
    weights = np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32)
    bias = np.full(NUM_LABELS, -5.0, np.float32)
    bias[VALID_LABELS.index("giraffe")] = 5.0  # a head that sees giraffes everywhere
    version = registry.save_head(
        Head(weights, bias),
        metrics={},
        lineage=Lineage(parent_version="v0", dataset_version=None, code_version="test"),
    )
    registry.promote(version)
    try:
        image_id = stack.add_photo(photos("dog", 3)[2])

        async def served() -> ClassifyResult:
            request = ClassifyRequest(interaction_id=new_id(), image_id=image_id, channel="api")
            return await await_classify(enqueue_classify(stack.client, request), timeout=60)

        deadline = asyncio.get_running_loop().time() + 60
        answer = await served()
        while answer.model_version != version:
            assert asyncio.get_running_loop().time() < deadline, "the worker kept the old model"
            await asyncio.sleep(0.5)
            answer = await served()
        assert answer.top3[0].label == "giraffe"
    finally:
        registry.rollback()
