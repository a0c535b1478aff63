"""Weak labels of photos pulled from photo APIs: trust, curation, and the held-out set."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from core.labels import LABEL_INDEX, VALID_LABELS
from core.settings import CurationSettings, Settings
from core.warehouse.records import utcnow
from retraining import datasets
from retraining.check import measure
from retraining.curation import CurationConfig, Labelled, select
from retraining.datasets import Example, SplitPolicy
from retraining.loop import candidates, retrain
from retraining.resources import Resources, open_resources
from retraining.snapshot import Snapshot, read_snapshot
from retraining.weak import is_weak, weak_labelled, weak_rows, weak_trust
from tests.unit.test_retraining_loop_unit import send_answers
from tests.unit.test_retraining_synthetic import synthetic

CONFIG = CurationConfig.from_settings(CurationSettings())


def probs(top: str, p: float) -> np.ndarray:
    """Return probabilities with ``p`` on ``top`` and the rest spread evenly."""
    result = np.full(16, (1.0 - p) / 15)
    result[LABEL_INDEX[top]] = p
    return result


def test_agreement_raises_trust_and_confident_disagreement_lowers_it() -> None:
    assert weak_trust("dog", probs("dog", 0.3), CONFIG) == CONFIG.weak_agree_trust == 0.75
    assert weak_trust("dog", probs("cat", 0.5), CONFIG) == CONFIG.weak_trust == 0.5
    assert weak_trust("dog", probs("cat", 0.95), CONFIG) == pytest.approx(0.35)
    strict = replace(CONFIG, weak_trust=0.4, weak_disagree_factor=0.5, confident=0.6)
    assert weak_trust("dog", probs("cat", 0.7), strict) == pytest.approx(0.2)


def test_weak_trust_stays_under_a_person_and_the_test_bar() -> None:
    for p in (probs("dog", 0.99), probs("cat", 0.99), probs("cat", 0.2)):
        assert weak_trust("dog", p, CONFIG) < CurationSettings().min_test_trust


def test_weak_labelled_keeps_source_label_and_model_probabilities() -> None:
    rows = [{"image_id": "a", "source": "unsplash", "weak_label": "deer"},
            {"image_id": "b", "source": "pexels", "weak_label": "dog"}]  # fmt: skip
    items = weak_labelled(rows, np.stack([probs("deer", 0.8), probs("cat", 0.95)]), CONFIG)
    assert [(i.image_id, i.label, i.source, i.trust) for i in items] == [
        ("a", "deer", "weak:unsplash", 0.75),
        ("b", "dog", "weak:pexels", 0.35),
    ]
    assert items[0].probabilities is not None and len(items[0].probabilities) == 16
    assert is_weak(items[1].source) and not is_weak("consensus")


def test_weak_labels_never_enter_the_test_set_whatever_their_weight() -> None:
    policy = SplitPolicy(test_fraction=1.0, test_per_label=1000, min_test_trust=0.0)
    weak = [Example(f"w{n}", "dog", "weak:unsplash", 1.0, "train") for n in range(50)]
    people = [Example(f"p{n}", "dog", "trusted", 1.0, "train") for n in range(5)]
    train, test = datasets.split_new(weak + people, None, policy)
    assert {e.image_id for e in test} == {e.image_id for e in people}
    assert len(train) == 50 and all(is_weak(e.source) for e in train)


def test_a_weak_near_copy_of_a_person_labelled_photo_is_dropped() -> None:
    person = Labelled("p", "dog", "feedback", 0.9, 1, None)
    weak = weak_labelled([{"image_id": "w", "source": "unsplash", "weak_label": "dog"}],
                         probs("dog", 0.6)[None, :], CONFIG)[0]  # fmt: skip
    embeddings = np.ones((2, 8), np.float32)
    out = select([person, weak], embeddings, np.zeros((0, 8), np.float32), {}, CONFIG)
    assert out[0].selected and not out[1].selected
    assert out[1].reason.startswith("near duplicate")


def acquire(res: Resources, n_per_label: int, seed: int, **overrides: Any) -> list[str]:
    """Photo APIs bring photos (features cached) with the query's label as a weak label."""
    data = synthetic(n_per_label, seed)
    rows, ids = [], []
    for n, (row, label) in enumerate(zip(data.inputs, data.labels, strict=True)):
        image_id = f"weak{seed:03d}{n:05d}"
        res.features.put(image_id, row[:1280], row[1280:])
        rows.append({"image_id": image_id, "created_at": utcnow(), "phash": "0" * 16,
                     "storage_key": f"photos/{image_id}", "source": "unsplash",
                     "license": "Unsplash License", "attribution": "Photo by A on Unsplash",
                     "weak_label": VALID_LABELS[label], **overrides})  # fmt: skip
        ids.append(image_id)
    res.warehouse.insert("images", rows)
    return ids


def test_weak_photos_are_logged_by_the_check_but_fire_no_rule(settings: Settings) -> None:
    res = open_resources(settings)
    acquire(res, 20, seed=3)
    values = measure(read_snapshot(res.warehouse, res.store), res.warehouse, res.features,
                     production="v0", window=settings.triggers.accuracy_window)  # fmt: skip
    assert (values.new_labels, values.new_weak_labels) == (0, 320)
    outcome = retrain(res, settings)
    assert (outcome.fired, outcome.status) == (False, "not fired")
    row = res.warehouse.query("SELECT details_json FROM retrain_events WHERE kind = 'check'")[0]
    assert json.loads(row["details_json"])["measured"]["new_weak_labels"] == 320


def test_only_api_photos_with_a_known_label_and_no_answer_are_weak_candidates(
    settings: Settings,
) -> None:
    res = open_resources(settings)
    acquire(res, 2, seed=4)
    acquire(res, 1, seed=5, source="telegram")
    acquire(res, 1, seed=6, weak_label="unicorn")
    snapshot = Snapshot(None, None, [], weak_rows(res.warehouse, {"weak00400000"}))
    found = candidates(res, snapshot, CONFIG)
    assert len(found) == 31 and all(item.source == "weak:unsplash" for item in found)
    assert "weak00400000" not in {item.image_id for item in found}


def test_a_forced_round_trains_on_weak_photos_and_keeps_them_out_of_the_test_set(
    settings: Settings,
) -> None:
    res = open_resources(settings)
    send_answers(res, 10, seed=1)
    weak_ids = set(acquire(res, 20, seed=7))
    outcome = retrain(res, settings, force=True)
    assert outcome.status in {"promoted", "refused"} and outcome.challenger == "v1"
    train = datasets.load_version(res.store, "train", "d1")
    test = datasets.load_version(res.store, "test", "t1")
    assert not test.ids() & weak_ids and all(not is_weak(e.source) for e in test.examples)
    weak_in_train = [e for e in train.examples if e.image_id in weak_ids]
    assert weak_in_train and all(e.source == "weak:unsplash" for e in weak_in_train)
    assert all(e.weight < 0.8 for e in weak_in_train)
    selection = json.loads(res.store.get("datasets/train/d1/selection.json"))
    weak_selected = [s for s in selection if s["image_id"] in weak_ids]
    assert len(weak_selected) == 320
    assert all(s["reason"].startswith("weak:unsplash label, score") for s in weak_selected
               if s["selected"])  # fmt: skip
