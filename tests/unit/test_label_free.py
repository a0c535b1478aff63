"""Accuracy without labels on synthetic streams whose accuracy is known."""

from __future__ import annotations

import numpy as np
import pytest

from core.model import calibration, label_free


def honest(n: int, seed: int, spread: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Return calibrated probabilities over 16 labels and labels drawn from them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, spread, (n, 16))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = (rng.random((n, 1)) > probabilities.cumsum(axis=1)).sum(axis=1)
    return probabilities, np.minimum(labels, 15)


def accuracy(probabilities: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == truth))


def test_cbpe_of_calibrated_confidences_is_the_accuracy_they_reach() -> None:
    probabilities, truth = honest(5000, seed=3)
    found = label_free.cbpe(probabilities.max(axis=1))
    assert found.value == pytest.approx(accuracy(probabilities, truth), abs=0.02)
    assert found.low < found.value < found.high
    assert found.predictions == 5000


def test_the_interval_covers_the_expected_accuracy_in_about_95_percent_of_batches() -> None:
    # Top probabilities uniform on [0.3, 1], each right with that probability: the expected
    # accuracy is 0.65 exactly.
    covered = []
    for seed in range(300):
        rng = np.random.default_rng(1000 + seed)
        top = rng.uniform(0.3, 1.0, 200)
        found = label_free.cbpe(top, resamples=1000, seed=seed)
        covered.append(found.low <= 0.65 <= found.high)
    assert 0.92 <= np.mean(covered) <= 0.98


def test_the_interval_narrows_with_the_batch_and_repeats_with_the_seed() -> None:
    top = np.random.default_rng(0).uniform(0.3, 1.0, 4000)
    small, large = label_free.cbpe(top[:250]), label_free.cbpe(top)
    width = (small.high - small.low) / (large.high - large.low)
    assert width == pytest.approx(4.0, rel=0.2)  # sqrt(4000 / 250)
    assert label_free.cbpe(top[:250]) == small
    assert label_free.cbpe(top[:250], seed=1) != small


def test_atc_finds_the_accuracy_from_over_confident_scores_on_exchangeable_photos() -> None:
    # Probabilities sharpened at temperature 0.5 overstate accuracy, but keep their order:
    # a threshold fitted on a test set of the same stream still counts the right share.
    test, test_truth = honest(4000, seed=5)
    stream, stream_truth = honest(4000, seed=6)
    sharpened = calibration.with_temperature(stream, 0.5)
    threshold = calibration.confidence_threshold(
        calibration.with_temperature(test, 0.5), test_truth
    )
    realised = accuracy(stream, stream_truth)
    assert label_free.atc(sharpened.max(axis=1), threshold).value == pytest.approx(
        realised, abs=0.025
    )
    assert label_free.cbpe(sharpened.max(axis=1)).value > realised + 0.1


def test_harder_photos_lower_cbpe_with_the_accuracy() -> None:
    # A shift towards photos the model is less sure of, still calibrated: CBPE follows it.
    easy, easy_truth = honest(4000, seed=7, spread=2.0)
    hard, hard_truth = honest(4000, seed=8, spread=1.0)
    drop = accuracy(easy, easy_truth) - accuracy(hard, hard_truth)
    assert drop > 0.15
    estimated = label_free.cbpe(easy.max(axis=1)).value - label_free.cbpe(hard.max(axis=1)).value
    assert estimated == pytest.approx(drop, abs=0.03)


def test_photos_of_a_kind_never_learned_stay_invisible() -> None:
    # A fifth of the stream is an animal the model cannot name: it predicts another label
    # with the confidences it has for known photos, and is always wrong. Neither estimate
    # moves, while the accuracy falls by about a fifth of what it was.
    probabilities, truth = honest(5000, seed=9, spread=3.0)
    test, test_truth = honest(4000, seed=10, spread=3.0)
    threshold = calibration.confidence_threshold(test, test_truth)
    right = probabilities.argmax(axis=1) == truth
    unknown = np.random.default_rng(11).random(5000) < 0.2
    realised = float(np.mean(right & ~unknown))
    top = probabilities.max(axis=1)
    before = label_free.estimate(top[~unknown], threshold)
    after = label_free.estimate(top, threshold)
    assert before is not None and after is not None and after.atc is not None
    assert before.cbpe.value > 0.6
    for old, new in [(before.cbpe, after.cbpe), (before.atc, after.atc)]:
        assert old is not None
        assert new.value - realised == pytest.approx(0.2 * old.value, abs=0.03)
        assert old.low < new.value < old.high


def test_estimate_pairs_both_and_leaves_atc_out_without_a_threshold() -> None:
    top = np.array([0.9, 0.8, 0.55, 0.4, 0.95])
    found = label_free.estimate(top, 0.6)
    assert found is not None and found.atc is not None
    assert found.cbpe.value == pytest.approx(0.72)
    assert found.atc.value == pytest.approx(0.6)  # 3 of 5 at or above 0.6
    assert found.threshold == 0.6
    uncalibrated = label_free.estimate(top, None)
    assert uncalibrated is not None and uncalibrated.atc is None
    assert label_free.estimate(np.array([]), 0.6) is None
    with pytest.raises(ValueError, match="no values"):
        label_free.mean_with_interval(np.array([]))
