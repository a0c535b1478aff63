"""Two rounds of the loop end to end on real photos, a real Redis and a real training worker.

Simulated users send real photos (features computed by the real backbone, once); then RETRAIN
goes through Redis to ``python -m retraining worker``, which runs the round (curation,
dataset versions, training, gate, promotion). A few hundred photos keep it quick.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from celery import Celery
from celery.result import AsyncResult

from core import tasks
from core.labels import LABEL_INDEX
from core.queue import configure
from core.settings import Settings, load_settings
from retraining import datasets
from retraining.evaluate import predict, scores_of
from retraining.loop import champion_head
from retraining.resources import Resources, open_resources
from retraining.simulate import Photo, Simulation, load_photos, stratified_split
from testkit.workers_support import RedisServer
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.datasets]
PER_LABEL = 24
# About 17 answers per simulated person a round: too few to be established at the defaults
# (a newcomer's 0.3 weighs 10 answers), so the bar is lowered for their labels to judge.
FEW_ANSWERS = {"established_answers": 10, "established_reliability": 0.6}


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path / "redis").start()
    yield server.url
    server.stop()


@pytest.fixture
def loop_settings(data_dir: Path, redis_url: str, animals_dev: Path) -> Settings:
    shared = REPO / "var" / "cache"
    shared.mkdir(parents=True, exist_ok=True)
    (data_dir / "cache").symlink_to(shared, target_is_directory=True)
    return load_settings(data_dir=data_dir, redis={"url": redis_url},
                         model={"runtime": "litert", "threads": 1},
                         curation=FEW_ANSWERS)  # fmt: skip


@pytest.fixture
def training_worker(loop_settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREATURE_VIS_")}
    env.update({"CREATURE_VIS_DATA_DIR": str(loop_settings.data_dir),
                "REDIS_URL": str(loop_settings.redis.url),
                "CREATURE_VIS_MODEL__RUNTIME": "litert",
                **{f"CREATURE_VIS_CURATION__{k.upper()}": str(v)
                   for k, v in FEW_ANSWERS.items()}})  # fmt: skip
    worker = subprocess.Popen([sys.executable, "-m", "retraining", "worker"], env=env, cwd=REPO)
    yield worker
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()


def photos_for_test(animals_dev: Path) -> tuple[list[Photo], list[Photo]]:
    every = load_photos(animals_dev)
    few = []
    for label in LABEL_INDEX:
        few += [p for p in every if p.label == label][:PER_LABEL]
    return stratified_split(few, 0.25, seed=0)


def accuracy(res: Resources, simulation: Simulation, test: list[Photo]) -> float:
    head = champion_head(res.registry, res.registry.production() or "v0")
    truth = np.asarray([LABEL_INDEX[p.label] for p in test])
    return scores_of(truth, predict(head, simulation.features(test))).accuracy


def test_two_rounds_through_redis_and_the_training_worker(
    loop_settings: Settings, training_worker: subprocess.Popen[bytes], animals_dev: Path
) -> None:
    stream, test = photos_for_test(animals_dev)
    res = open_resources(loop_settings)
    simulation = Simulation(res, test, noise=0.0, seed=0)
    client = Celery("test-client", set_as_current=False)
    configure(client, loop_settings)
    before = accuracy(res, simulation, test)
    # Round 1 as beat or an admin starts it: the check runs on the training worker, which
    # logs it once and enqueues the round with its decision.
    simulation.send(stream[0::2])
    decision = client.send_task(tasks.CHECK_RETRAIN, kwargs={"force": True}).get(timeout=600)
    assert (decision["fired"], decision["rule"]) == (True, "forced by an admin")
    first = AsyncResult(decision["retrain_task_id"], app=client).get(timeout=600)
    # Round 2 from a RETRAIN message alone (it checks, forced, itself).
    simulation.send(stream[1::2])
    second = client.send_task(tasks.RETRAIN, kwargs={"rule": "new_labels"}).get(timeout=600)
    assert training_worker.poll() is None
    assert first["rule"] == "forced by an admin"
    assert second["rule"] == "enqueued after new_labels"
    assert [first["challenger"], second["challenger"]] == ["v1", "v2"]
    # With ~30 held-out photos the first gain may not yet be significant; a refused
    # challenger's examples then count as new for the next one, which must get through.
    assert first["status"] in {"promoted", "refused"} and first["reason"]
    assert second["status"] == "promoted", second["reason"]
    assert res.registry.production() == "v2"
    assert [first["dataset_version"], second["dataset_version"]] == ["d1", "d2"]
    train = datasets.latest(res.warehouse, res.store, "train")
    held_out = datasets.latest(res.warehouse, res.store, "test")
    assert train is not None and held_out is not None
    assert not train.ids() & held_out.ids()
    # every photo is held, or its selection says why not (curation left it out, with a reason)
    left_out = {p.image_id for p in stream} - train.ids() - held_out.ids()
    reasons = {s["image_id"]: s["reason"] for version in ("d1", "d2")
               for s in json.loads(res.store.get(datasets.selection_key(version)))
               if not s["selected"]}  # fmt: skip
    assert left_out <= set(reasons) and len(left_out) < len(stream) // 20
    assert accuracy(res, simulation, test) > before + 0.05
    kinds = [r["kind"] for r in res.warehouse.query(
        "SELECT kind FROM retrain_events ORDER BY created_at")]  # fmt: skip
    verdict = {"promoted": "promote", "refused": "refuse"}[first["status"]]
    assert kinds == ["check", "curate", "train", verdict, "check", "curate", "train", "promote"]
    # Every photo's features were computed once and are reused from the cache.
    assert not res.features.missing([p.image_id for p in stream + test])
