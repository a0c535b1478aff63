"""Photos pulled from photo APIs join a retrain round with their weak labels (real photos).

A few dozen animals-dev photos are stored as Unsplash photos with the query's label as a weak
label and nobody answers about them: the trigger logs them without firing, and a forced round
curates them (features from the real backbone, computed once), trains on them with their
reasons logged, and never puts one in the held-out test set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.images import intake
from core.labels import VALID_LABELS
from core.photos import store_photo
from core.settings import Settings, load_settings
from retraining import datasets
from retraining.loop import retrain
from retraining.resources import Resources, open_resources
from retraining.weak import is_weak
from tests.conftest import REPO

pytestmark = [pytest.mark.model, pytest.mark.datasets]
PER_LABEL = 3


@pytest.fixture
def weak_settings(data_dir: Path, animals_dev: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [n for n in os.environ if n.startswith("CREATURE_VIS_")]:
        monkeypatch.delenv(name)
    shared = REPO / "var" / "cache"
    shared.mkdir(parents=True, exist_ok=True)
    (data_dir / "cache").symlink_to(shared, target_is_directory=True)
    return load_settings(data_dir=data_dir, model={"runtime": "litert", "threads": 1})


def acquire(res: Resources, animals_dev: Path) -> dict[str, str]:
    """Store a few photos per label the way acquisition does; return image id -> weak label."""
    weak: dict[str, str] = {}
    for label in VALID_LABELS:
        for n, path in enumerate(sorted((animals_dev / label).glob("*.jpg"))[:PER_LABEL]):
            stored = store_photo(res.store, res.warehouse, intake(path.read_bytes()),
                                 source="unsplash", source_id=f"{label}-{n}",
                                 source_url=f"https://unsplash.com/photos/{label}-{n}",
                                 license="Unsplash License",
                                 attribution="Photo by Someone on Unsplash",
                                 weak_label=label)  # fmt: skip
            weak[stored.image_id] = label
    return weak


def test_a_round_selects_weak_photos_with_reasons_and_keeps_them_out_of_the_test_set(
    weak_settings: Settings, animals_dev: Path
) -> None:
    res = open_resources(weak_settings)
    weak = acquire(res, animals_dev)
    assert len(weak) == PER_LABEL * len(VALID_LABELS)
    assert retrain(res, weak_settings).status == "not fired"  # weak photos are logged, fire no rule
    outcome = retrain(res, weak_settings, force=True)
    assert outcome.dataset_version == "d1" and outcome.challenger == "v1", outcome
    assert outcome.status in {"promoted", "refused"} and outcome.reason
    selection = json.loads(res.store.get("datasets/train/d1/selection.json"))
    assert {s["image_id"]: s["label"] for s in selection} == weak
    assert all(s["source"] == "weak:unsplash" and s["reason"] for s in selection)
    chosen = [s for s in selection if s["selected"]]
    assert len(chosen) >= len(weak) // 2
    assert all(s["reason"].startswith("weak:unsplash label, score") for s in chosen)
    assert all(0.0 < s["trust"] < weak_settings.curation.min_test_trust for s in selection)
    train = datasets.load_version(res.store, "train", "d1")
    test = datasets.latest(res.warehouse, res.store, "test")
    assert train.ids() == {s["image_id"] for s in chosen}
    assert all(is_weak(e.source) and e.weight == round(e.weight, 4) for e in train.examples)
    assert test is None or not test.ids() & set(weak)
    assert not res.features.missing(list(weak))  # computed once, cached for later rounds
    curate = res.warehouse.query("SELECT details_json FROM retrain_events WHERE kind = 'curate'")
    assert json.loads(curate[0]["details_json"])["selected"] == len(chosen)
    trusts = sorted(round(s["trust"], 2) for s in selection)
    print(f"weak trusts: {trusts}; selected {len(chosen)}/{len(weak)}; {outcome.reason}")
