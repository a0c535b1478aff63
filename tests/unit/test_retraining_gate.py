"""The gate: a paired test, a margin and a per-class bound decide promotion."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.settings import PromotionSettings, TrainingSettings
from retraining.evaluate import gate, mcnemar_p
from retraining.train import TrainConfig, head_probabilities, taxonomy_head, train_head
from tests.unit.test_retraining_synthetic import synthetic

POLICY = PromotionSettings(significance=0.05, margin=0.0, max_class_drop=0.05)


def test_mcnemar_exact_values() -> None:
    # 10 discordant pairs, challenger wins 9: P(X >= 9 | n=10, 1/2) = 11/1024.
    champion = np.array([True] * 1 + [False] * 9 + [True] * 20)
    challenger = np.array([False] * 1 + [True] * 9 + [True] * 20)
    assert mcnemar_p(champion, challenger) == pytest.approx(11 / 1024)
    assert mcnemar_p(challenger, challenger) == 1.0


def test_clearly_better_challenger_passes() -> None:
    truth = np.repeat(np.arange(16), 20)
    champion = truth.copy()
    champion[::4] = (truth[::4] + 1) % 16
    verdict = gate(truth, champion, truth.copy(), POLICY)
    assert verdict.passed, verdict.reason
    assert verdict.figures["p_value"] < 1e-6


def test_small_gain_is_not_significant() -> None:
    truth = np.repeat(np.arange(16), 20)
    champion = truth.copy()
    champion[:2] = 5
    verdict = gate(truth, champion, truth.copy(), POLICY)
    assert not verdict.passed
    assert "not significant" in verdict.reason


def test_class_regression_is_refused_even_with_overall_gain() -> None:
    truth = np.repeat(np.arange(16), 20)
    champion = truth.copy()
    champion[truth >= 8] = 0  # champion bad on half the labels
    challenger = truth.copy()
    challenger[:4] = 3  # ...but challenger loses 4 dogs the champion had right
    verdict = gate(truth, champion, challenger, POLICY)
    assert not verdict.passed
    assert verdict.reason.startswith("dog recall falls by 0.200")


def test_losing_a_single_photo_of_a_class_is_not_a_regression() -> None:
    truth = np.repeat(np.arange(16), 5)
    champion = truth.copy()
    champion[truth >= 8] = 0
    challenger = truth.copy()
    challenger[0] = 3
    assert gate(truth, champion, challenger, POLICY).passed


def test_challenger_trained_on_shuffled_labels_is_refused() -> None:
    data = synthetic(n_per_label=40, seed=3)
    test = synthetic(n_per_label=15, seed=4)
    config = replace(TrainConfig.from_settings(TrainingSettings()), steps=150)
    champion = train_head(data.inputs, data.labels, np.ones(len(data.labels)), taxonomy_head(),
                          config)  # fmt: skip
    shuffled = np.random.default_rng(0).permutation(data.labels)
    bad = train_head(data.inputs, shuffled, np.ones(len(shuffled)), champion, config)
    champ_pred = head_probabilities(champion, test.inputs).argmax(axis=1)
    bad_pred = head_probabilities(bad, test.inputs).argmax(axis=1)
    verdict = gate(test.labels, champ_pred, bad_pred, POLICY)
    assert not verdict.passed
    assert verdict.figures["accuracy_gain"] < -0.3
