"""Calibration and answer sets on synthetic cases whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.model import calibration
from core.model.calibration import Calibration


def sampled(n: int, seed: int, spread: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Return true probabilities over 16 labels and labels drawn from them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, spread, (n, 16))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cumulative = probabilities.cumsum(axis=1)
    labels = (rng.random((n, 1)) > cumulative).sum(axis=1)
    return probabilities, np.minimum(labels, 15)


@pytest.mark.parametrize("true_temperature", [0.5, 2.0])
def test_the_temperature_that_distorted_honest_probabilities_is_found(
    true_temperature: float,
) -> None:
    honest, truth = sampled(6000, seed=1)
    served = calibration.with_temperature(honest, 1 / true_temperature)  # T=0.5: over-confident
    fitted = calibration.fit_temperature(served, truth)
    assert fitted == pytest.approx(true_temperature, rel=0.08)
    repaired = calibration.with_temperature(served, fitted)
    assert calibration.ece(repaired, truth) < 0.03 < calibration.ece(served, truth)
    assert calibration.nll(repaired, truth) < calibration.nll(served, truth)


def test_ece_and_nll_by_hand() -> None:
    # Two photos at top probability 0.9 (one right), one at 0.6 (right): bins 14 and 9.
    p = np.full((3, 16), 0.0)
    p[0, 0], p[0, 1] = 0.9, 0.1
    p[1, 0], p[1, 1] = 0.9, 0.1
    p[2, 2], p[2, 3] = 0.6, 0.4
    truth = np.array([0, 1, 2])
    assert calibration.ece(p, truth) == pytest.approx((2 * abs(0.5 - 0.9) + abs(1 - 0.6)) / 3)
    assert calibration.nll(p, truth) == pytest.approx(
        -(math.log(0.9) + math.log(0.1) + math.log(0.6)) / 3
    )


def test_a_temperature_keeps_the_order_and_zeros() -> None:
    p = np.array([[0.7, 0.2, 0.1, 0.0] + [0.0] * 12])
    for temperature in (0.3, 1.0, 4.0):
        q = calibration.with_temperature(p, temperature)
        assert q.sum() == pytest.approx(1.0)
        assert list(np.argsort(-q[0])[:3]) == [0, 1, 2]
        assert q[0, 3] == 0.0  # a label the version cannot give stays impossible
    np.testing.assert_allclose(calibration.with_temperature(p, 1.0), p)


def test_conformal_sets_cover_the_target_share_of_new_photos() -> None:
    # Exchangeable calibration and new photos: over many splits the uncapped sets hold the
    # true label at least 95% of the time on average (the APS score itself is exact: the
    # true label scores at most q with probability in [0.95, 0.95 + 1/(n+1)]).
    rng = np.random.default_rng(7)
    probabilities, truth = sampled(40_000, seed=3, spread=3.0)
    n, exact, shown = 200, [], []
    for _ in range(150):
        pick = rng.choice(len(truth), 1200, replace=False)
        fit, new = pick[:n], pick[n:]
        threshold = calibration.set_threshold(probabilities[fit], truth[fit], 0.95)
        assert threshold is not None
        exact.append(np.mean(calibration.aps_scores(probabilities[new], truth[new]) <= threshold))
        sets = calibration.answer_sets(probabilities[new], threshold, max_labels=16)
        shown.append(np.mean([t in s for s, t in zip(sets, truth[new], strict=True)]))
    assert 0.95 - 0.005 <= float(np.mean(exact)) <= 0.95 + 1 / (n + 1) + 0.005
    assert float(np.mean(shown)) >= float(np.mean(exact))  # the top label is always shown


def test_answer_sets_hold_the_top_label_and_at_most_three() -> None:
    p = np.array([
        [0.96, 0.02, 0.02] + [0.0] * 13,
        [0.40, 0.35, 0.25] + [0.0] * 13,
        [0.25, 0.25, 0.25, 0.25] + [0.0] * 12,
    ])  # fmt: skip
    assert calibration.answer_sets(p, 0.0) == [[0], [0], [0]]  # the top label, always
    assert calibration.answer_sets(p, None) == [[0], [0], [0]]
    assert calibration.answer_sets(p, 2.0) == [[0, 1, 2]] * 3  # at most three
    # Mass ranked above a label plus u times its own: 0.96 + u * 0.02 is over 0.9 whatever u,
    # 0.40 + u * 0.35 and 0.75 + u * 0.25 are under 1 whatever u.
    assert calibration.answer_sets(p, 0.9)[0] == [0]
    assert calibration.answer_sets(p, 1.0)[1] == [0, 1, 2]
    assert calibration.answer_sets(p, 0.9) == calibration.answer_sets(p.copy(), 0.9)  # repeatable


def test_too_few_photos_give_no_sets_and_a_demanding_target_gives_everything() -> None:
    probabilities, truth = sampled(19, seed=2)
    assert calibration.set_threshold(probabilities, truth, 0.95) is None
    probabilities, truth = sampled(30, seed=2)
    threshold = calibration.set_threshold(probabilities, truth, 0.99)  # needs 99 photos
    assert calibration.answer_sets(probabilities, threshold) == [
        list(np.argsort(-row, kind="stable")[:3]) for row in probabilities
    ]


def test_atc_estimates_accuracy_on_photos_like_the_test_set() -> None:
    probabilities, truth = sampled(20_000, seed=4)
    fit, new = slice(0, 5000), slice(5000, None)
    threshold = calibration.confidence_threshold(probabilities[fit], truth[fit])
    below = np.mean(probabilities[fit].max(axis=1) < threshold)
    error = np.mean(probabilities[fit].argmax(axis=1) != truth[fit])
    assert below == pytest.approx(error, abs=1e-9)
    estimate = np.mean(probabilities[new].max(axis=1) >= threshold)
    accuracy = np.mean(probabilities[new].argmax(axis=1) == truth[new])
    assert estimate == pytest.approx(accuracy, abs=0.015)


def test_fit_and_report_on_an_over_confident_model() -> None:
    honest, truth = sampled(8000, seed=5, spread=3.0)
    served = calibration.with_temperature(honest, 0.5)
    fitted = calibration.fit(served[:3000], truth[:3000], 0.9, test_version="test-1")
    assert (fitted.photos, fitted.test_version, fitted.coverage) == (3000, "test-1", 0.9)
    report = calibration.report(served[3000:], truth[3000:], fitted)
    assert report["ece"]["calibrated"] < 0.03 < report["ece"]["raw"]
    assert report["nll"]["calibrated"] < report["nll"]["raw"]
    conformal = report["conformal"]
    assert conformal["coverage"] <= 0.9 + 0.02  # capped at three labels: never above target
    assert 1 <= conformal["mean_set_size"] <= 3
    assert report == calibration.report(served[3000:], truth[3000:], fitted)
    uncalibrated = calibration.report(served, truth, None)
    assert uncalibrated["conformal"] is None
    assert uncalibrated["ece"]["raw"] == uncalibrated["ece"]["calibrated"]


def test_the_stored_form_round_trips_and_bad_files_are_refused() -> None:
    fitted = Calibration(1.7, 0.12, 0.55, 0.95, 400, "test-3")
    assert Calibration.from_json(fitted.to_json()) == fitted
    for bad in ([], {"temperature": 1.0}, {**fitted.to_json(), "temperature": -1.0},
                {**fitted.to_json(), "set_threshold": float("nan")}):  # fmt: skip
        with pytest.raises(ValueError):
            Calibration.from_json(bad)
