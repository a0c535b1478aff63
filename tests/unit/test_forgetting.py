"""Forgetting a person: their photos leave the store, the feature cache, every manifest and the
warehouse; photos others sent too stay; work under way cannot write them back."""

from __future__ import annotations

import json
import time

import numpy as np

from core.forget import forget_person
from core.forgotten import ForgetRecord
from core.manifests import redact
from core.model.features import FeatureCache
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.warehouse import TABLES, Warehouse, open_warehouse
from core.warehouse.records import (
    interaction_row,
    new_id,
    record_feedback,
    record_interaction,
    utcnow,
)
from retraining import datasets
from retraining.datasets import Example

BACKBONE = "test-backbone"
ALICE, BOB = "web:" + "a" * 32, "telegram:7"
ONLY_ALICE, SHARED, ACQUIRED = "1" * 64, "2" * 64, "3" * 64


def photo(store: ImageStore, warehouse: Warehouse, image_id: str, **row: str | None) -> None:
    key = f"images/{image_id[:2]}/{image_id}.jpg"
    store.put(key, b"jpeg bytes of " + image_id.encode())
    warehouse.insert(
        "images",
        [{"image_id": image_id, "created_at": utcnow(), "phash": "0" * 16, "storage_key": key}
         | row],
    )  # fmt: skip


def asks(warehouse: Warehouse, user: str, image_id: str, label: str = "dog") -> str:
    interaction = new_id()
    record_interaction(warehouse, interaction_row(
        interaction_id=interaction, channel="web", image_id=image_id, model_version="v0",
        top3=[("cat", 0.6)], user_id=user))  # fmt: skip
    record_feedback(warehouse, interaction_id=interaction, user_id=user, correct=False,
                    label=label)  # fmt: skip
    return interaction


def world(settings: Settings) -> tuple[ImageStore, Warehouse, FeatureCache]:
    """Alice sent one photo nobody else did and one Bob asked about too, and asked about an
    acquired photo; all three are cached, in d1 and in its curation log."""
    store, warehouse = open_store(settings), open_warehouse(settings)
    photo(store, warehouse, ONLY_ALICE, user_id=ALICE, source="web")
    photo(store, warehouse, SHARED, user_id=ALICE, source="web")
    photo(store, warehouse, ACQUIRED, source="unsplash", weak_label="dog")
    for image_id in (ONLY_ALICE, SHARED, ACQUIRED):
        asks(warehouse, ALICE, image_id)
    asks(warehouse, BOB, SHARED)
    cache = FeatureCache(store, BACKBONE)
    for image_id in (ONLY_ALICE, SHARED, ACQUIRED):
        cache.put(image_id, np.ones(1280), np.zeros(16))
    examples = [Example(i, "dog", "feedback", 1.0, "train") for i in (ONLY_ALICE, SHARED, ACQUIRED)]
    datasets.freeze(store, warehouse, "train", None, examples)
    log = [{"image_id": i, "selected": True} for i in (ONLY_ALICE, SHARED)]
    store.put(datasets.selection_key("d1"), json.dumps(log).encode())
    return store, warehouse, cache


def everything(store: ImageStore, warehouse: Warehouse) -> str:
    """Every key and every object's bytes, and every warehouse row, as one text."""
    parts = [*store.list(""), *(store.get(key).decode(errors="replace") for key in store.list(""))]
    for table in TABLES:  # names from the schema
        parts += [json.dumps(r, default=str) for r in warehouse.query(f"SELECT * FROM {table}")]  # noqa: S608
    return "\n".join(parts)


def test_forgetting_deletes_a_persons_own_photos_everywhere_and_keeps_shared_ones(
    settings: Settings,
) -> None:
    store, warehouse, cache = world(settings)
    counts = forget_person(store, warehouse, ALICE, [BACKBONE])

    assert counts == {"feedback": 3, "interactions": 3, "images": 1, "photos": 1, "features": 1,
                      "examples": 2}  # fmt: skip
    left = everything(store, warehouse)
    assert ONLY_ALICE not in left and ALICE not in left
    assert cache.has(SHARED) and cache.has(ACQUIRED)
    assert datasets.load_version(store, "train", "d1").ids() == {SHARED, ACQUIRED}
    assert json.loads(store.get("datasets/train/d1/manifest.json"))["counts"] == {"dog": 2}
    rows = {r["image_id"]: r for r in warehouse.query("SELECT * FROM images")}
    assert set(rows) == {SHARED, ACQUIRED} and rows[SHARED]["user_id"] is None
    assert [r["user_id"] for r in warehouse.query("SELECT user_id FROM feedback")] == [BOB]
    record = ForgetRecord(store)
    assert record.is_forgotten(ONLY_ALICE) and not record.is_forgotten(SHARED)


def test_forgetting_twice_is_harmless(settings: Settings) -> None:
    store, warehouse, _ = world(settings)
    forget_person(store, warehouse, ALICE, [BACKBONE])
    again = forget_person(store, warehouse, ALICE, [BACKBONE])
    assert set(again.values()) == {0}


def test_work_under_way_cannot_write_a_forgotten_photo_back(settings: Settings) -> None:
    store, warehouse, cache = world(settings)
    stale_d1 = datasets.load_version(store, "train", "d1")  # a retrain read it before /forget
    forget_person(store, warehouse, ALICE, [BACKBONE])

    cache.put(ONLY_ALICE, np.ones(1280), np.zeros(16))  # a worker's feature writer, late
    assert not cache.has(ONLY_ALICE)
    d2 = datasets.freeze(store, warehouse, "train", stale_d1, [])
    assert ONLY_ALICE not in json.loads(store.get(datasets.manifest_key("train", d2.version)))
    late_log = datasets.selection_key("d2")
    store.put(late_log, json.dumps([{"image_id": ONLY_ALICE}, {"image_id": SHARED}]).encode())
    assert redact(store, late_log) == 1
    assert ONLY_ALICE not in everything(store, warehouse)


def test_the_record_names_nobody_and_tells_who_asked_after_a_moment(settings: Settings) -> None:
    store = open_store(settings)
    record = ForgetRecord(store)
    before = time.time()
    record.add_photos([ONLY_ALICE])
    record.mark_person(ALICE)
    assert record.forgot_since(ALICE, before)
    assert not record.forgot_since(ALICE, time.time() + 1)  # asked before that work began
    assert not record.forgot_since(BOB, before) and not record.forgot_since(None, before)
    assert record.forgotten_among([ONLY_ALICE, SHARED]) == {ONLY_ALICE}
    assert ONLY_ALICE not in everything(store, open_warehouse(settings))
    assert ALICE.removeprefix("web:") not in everything(store, open_warehouse(settings))
