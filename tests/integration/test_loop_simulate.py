"""``creature-vis simulate`` and ``creature-vis retrain`` on a small folder of real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from core.labels import VALID_LABELS
from tests.conftest import REPO

pytestmark = [pytest.mark.model, pytest.mark.datasets]
PER_LABEL = 10
ROUND_KEYS = {"round", "labels_seen", "model_version", "accuracy", "macro_f1", "per_label",
              "forgetting", "calibration", "retrain_seconds", "estimated_accuracy",
              "answered_accuracy", "check", "outcome", "challenger", "transfer",
              "test_labels_from_adversaries", "adversary_detection_auroc"}  # fmt: skip


@pytest.fixture
def small_folder(tmp_path: Path, animals_dev: Path) -> Path:
    folder = tmp_path / "photos"
    for label in VALID_LABELS:
        (folder / label).mkdir(parents=True)
        for photo in sorted((animals_dev / label).glob("*.jpg"))[:PER_LABEL]:
            (folder / label / photo.name).symlink_to(photo)
    return folder


@pytest.fixture
def shared_cache(data_dir: Path, settings: object) -> Path:
    cache = data_dir / "cache"
    if cache.is_symlink() or cache.exists():
        for child in cache.iterdir():
            child.unlink()
        cache.rmdir()
    shared = REPO / "var" / "cache"
    shared.mkdir(parents=True, exist_ok=True)
    cache.symlink_to(shared, target_is_directory=True)
    return cache


def test_simulate_prints_the_documented_json(
    small_folder: Path, shared_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulate", "--stream", str(small_folder), "--test", str(small_folder),
                 "--rounds", "2", "--json"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == ["rounds"]
    rounds = result["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert all(set(r) == ROUND_KEYS for r in rounds)
    assert rounds[0]["model_version"] == "v0" and rounds[0]["labels_seen"] == 0
    assert rounds[0]["per_label"]["giraffe"] == 0.0  # model v0 has no giraffe
    assert set(rounds[0]["per_label"]) == set(VALID_LABELS)
    assert rounds[2]["labels_seen"] > rounds[1]["labels_seen"] > 0
    assert rounds[2]["accuracy"] >= rounds[0]["accuracy"]
    assert rounds[0]["estimated_accuracy"] is None and rounds[0]["check"] is None
    # Round 1 is served by model v0 before any calibration: raw, and no ATC threshold.
    first, second = rounds[1]["estimated_accuracy"], rounds[2]["estimated_accuracy"]
    assert first["calibrated"] is False and first["atc"] is None
    assert second["calibrated"] is True and second["atc"] is not None
    for item in (first, second):
        cbpe = item["cbpe"]
        assert 0 < cbpe["low"] <= cbpe["value"] <= cbpe["high"] <= 1
    assert 0 <= rounds[2]["answered_accuracy"] <= 1
    check = rounds[1]["check"]  # never trained: the age rule holds with a few new labels
    assert check["fired"] and check["rule"] == check["holding"][0] == "age"


def test_simulate_refuses_a_missing_folder(tmp_path: Path) -> None:
    assert main(["simulate", "--stream", str(tmp_path / "no"), "--test", str(tmp_path)]) == 2


def test_simulate_refuses_a_burst_after_the_last_round(tmp_path: Path) -> None:
    assert main(["simulate", "--stream", str(tmp_path), "--test", str(tmp_path), "--rounds", "2",
                 "--burst", "deer", "--burst-round", "3"]) == 2  # fmt: skip


def test_retrain_cli_reports_why_nothing_fired(
    shared_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["retrain"]) == 0
    out = capsys.readouterr().out
    assert "check: not fired (no rule fired: no new labels)" in out
    assert "production: v0" in out
    assert main(["retrain", "--force", "--json"]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["rule"], outcome["status"]) == ("forced", "nothing new")


def test_gate_refuses_a_challenger_trained_on_shuffled_labels(
    small_folder: Path, shared_cache: Path, settings: object
) -> None:
    import numpy as np

    from core.settings import TrainingSettings, load_settings
    from retraining import datasets
    from retraining.loop import retrain
    from retraining.resources import open_resources
    from retraining.simulate import Simulation, load_photos
    from retraining.train import TrainConfig, taxonomy_head, train_head

    # 80 photos among 10 simulated people, 8 answers each: too few to be established at the
    # defaults (a newcomer's 0.3 weighs 10 answers), so the bar is lowered for them to judge
    settings = load_settings(curation={"established_answers": 5, "established_reliability": 0.5})
    res = open_resources(settings)
    photos = load_photos(small_folder)
    simulation = Simulation(res, [], noise=0.0, seed=0)
    simulation.send(photos[0::2])
    honest = retrain(res, settings, force=True)
    simulation.send(photos[1::2])

    def shuffled(train: datasets.Manifest, parent: str) -> object:
        examples = [e for e in train.examples if e.split == "train"]
        features = res.features.get([e.image_id for e in examples])
        labels = np.random.default_rng(0).permutation(datasets.label_indices(examples))
        start = res.registry.get(parent).head or taxonomy_head()
        return train_head(features.head_inputs(), labels, np.ones(len(labels)), start,
                          TrainConfig.from_settings(TrainingSettings()))  # fmt: skip

    bad = retrain(res, settings, force=True, trainer=shuffled)  # type: ignore[arg-type]
    print("shuffled challenger:", bad.status, bad.reason)
    assert bad.status == "refused", bad.reason
    assert bad.figures["accuracy_gain"] < 0
    assert res.registry.production() == honest.production
