"""Model v0 (the ImageNet taxonomy) predicts the 16 labels usefully with no training data."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model.handle import load_classifier
from core.model.metrics import format_report
from core.settings import Settings
from retraining.folder_evaluation import evaluate_folder

pytestmark = [pytest.mark.model, pytest.mark.datasets]


def test_model_v0_on_animals_dev(model_settings: Settings, animals_dev: Path) -> None:
    classifier = load_classifier(model_settings, "v0")
    evaluation = evaluate_folder(classifier, animals_dev)
    print(format_report(evaluation.scores, evaluation.model_version))
    recall = evaluation.scores.per_label
    assert not evaluation.skipped
    assert evaluation.scores.accuracy >= 0.74
    # ImageNet-1k has no giraffe and no deer: v0 can never say them.
    assert recall["giraffe"] == 0.0
    assert recall["deer"] == 0.0
    for label in ("dog", "elephant", "lion", "tiger", "bear", "zebra", "monkey", "bird", "fish"):
        assert recall[label] is not None
        assert recall[label] >= 0.85, label
    assert recall["other"] is not None
    assert recall["other"] >= 0.9
