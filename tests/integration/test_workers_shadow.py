"""A worker feeds retraining: a staged version shadows classify, features get cached.

A real worker process on the real Redis runs the real registry, handle and classifier on a
colour backbone (``colour_handle`` below is its ``--classifier``). A challenger is staged while
the worker runs (hot swap), people's answers arrive through the worker, the staging review
promotes the challenger once the answers are clear enough for a loose sequential test, and a
retrain finds the classified photos' features cached.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import numpy as np
import pytest

from core.images import intake
from core.model.classifier import compute_features
from core.model.handle import ModelHandle, open_registry
from core.model.preprocess import decode
from core.model.runtime import Engine
from core.photos import store_photo
from core.queue import enqueue_classify, enqueue_feedback, task_client
from core.schemas import ClassifyRequest, FeedbackRequest
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.task_results import await_classify, await_result
from core.warehouse import Row, open_warehouse
from core.warehouse.records import get_interaction
from retraining.loop import features_of, retrain
from retraining.resources import open_resources
from retraining.sequential import SequentialTest
from retraining.staging import review
from testkit.workers_support import (
    make_data_dir,
    running_worker,
    settings_for,
    wait_until,
    worker_env,
)
from tests.integration.server_support import ColourEngine, noisy_photo, save_constant_head

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
RED = (220, 30, 30)
REQUESTS = 3


def colour_handle(settings: Settings, store: ImageStore) -> ModelHandle:
    """Worker predictor: the real handle (staging as settings say) on a colour backbone."""
    registry = open_registry(settings, store)
    handle = ModelHandle(registry, ColourEngine, 0.2, staging=settings.promotion.staging)
    handle.get()
    return handle


def no_backbone() -> Engine:
    raise AssertionError("retraining ran the backbone on a photo the worker had classified")


def test_worker_shadows_a_staged_version_until_the_review_promotes_it(
    tmp_path: Path, redis_url: str
) -> None:
    env = worker_env(make_data_dir(tmp_path / "var"), redis_url,
                     CREATURE_VIS_PROMOTION__STAGING="true",
                     CREATURE_VIS_PROMOTION__STAGING_ALPHA="0.3",
                     CREATURE_VIS_PROMOTION__STAGING_EFFECT="0.45")  # fmt: skip
    settings = settings_for(env)
    save_constant_head(settings, "cat", version="v1")
    store, warehouse = open_store(settings), open_warehouse(settings)
    image_ids = []
    for seed in range(REQUESTS + 1):
        photo = intake(noisy_photo(RED, seed))
        store_photo(store, warehouse, photo, source="upload", user_id="tg:1")
        image_ids.append(photo.sha256)
    client = task_client(settings)

    def classify(image_id: str) -> Row:
        request = ClassifyRequest(interaction_id=uuid.uuid4().hex, image_id=image_id,
                                  channel="telegram", user_id="tg:1")  # fmt: skip
        result = asyncio.run(await_classify(enqueue_classify(client, request), timeout=60))
        assert (result.model_version, result.top3[0].label) == ("v0", "dog")  # never the shadow
        row: Row = wait_until(lambda: get_interaction(warehouse, request.interaction_id), 30,
                              "the interaction in the warehouse")  # fmt: skip
        return row

    with running_worker(env, tmp_path / "worker.log", "--classifier",
                        f"{__name__}:colour_handle") as worker:  # fmt: skip
        assert classify(image_ids[0])["shadow_version"] is None  # nothing staged yet
        open_registry(settings).stage("v1")
        first = wait_until(lambda: _shadowed(classify(image_ids[1])), 30, "the staged model")
        rows = [first] + [classify(i) for i in image_ids[2:]]
        assert [(r["shadow_version"], r["shadow_label"]) for r in rows] == [("v1", "cat")] * 3
        for row in rows[:2]:
            request = FeedbackRequest(interaction_id=str(row["interaction_id"]), user_id="tg:1",
                                      correct=False, label="cat", channel="telegram")  # fmt: skip
            asyncio.run(await_result(enqueue_feedback(client, request), timeout=60))
        res = open_resources(settings, engine=no_backbone)
        cached = wait_until(lambda: not res.features.missing(image_ids), 30, "cached features")
        assert cached and "Traceback" not in worker.log()

    features = features_of(res, image_ids)
    photos = [decode(store.get(f"images/{i[:2]}/{i}.png")) for i in image_ids]
    expected = compute_features(ColourEngine(), photos)
    np.testing.assert_array_equal(features.embeddings, expected.embeddings)
    np.testing.assert_array_equal(features.taxonomy_log_probs, expected.taxonomy_log_probs)
    retrain(res, settings)  # reviews staging: 2 answers, both for the staged model, decide
    assert res.registry.production() == "v1" and res.registry.staging() is None
    assert (
        review(res.registry, res.warehouse, SequentialTest.from_settings(settings.promotion))
        is None
    )


def _shadowed(row: Row) -> Row | None:
    return row if row["shadow_version"] is not None else None
