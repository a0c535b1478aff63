"""The bias on "other": folds, out-of-fold scores, and the smallest bias reaching a recall."""

from __future__ import annotations

import numpy as np
import pytest

from core.labels import LABEL_INDEX
from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from retraining.other_bias import (
    OTHER,
    bias_cap,
    fit_bias,
    fold_of,
    needed_bias,
    out_of_fold_logits,
    recall_bias,
    reference_recall,
    with_other_bias,
)

RABBIT = LABEL_INDEX["rabbit"]


def other_rows(gaps: list[float]) -> np.ndarray:
    """Logits of "other" photos whose best rival (rabbit) leads "other" by each gap."""
    logits = np.full((len(gaps), NUM_LABELS), -10.0)
    logits[:, OTHER] = 0.0
    logits[:, RABBIT] = gaps
    return logits


def recall(logits: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(logits[truth == OTHER].argmax(axis=1) == OTHER))


def test_needed_bias_is_the_lead_of_the_best_rival() -> None:
    logits = other_rows([-1.0, 0.5, 2.0])
    assert needed_bias(logits) == pytest.approx([0.0, 0.5, 2.0])


def test_fitted_bias_restores_exactly_the_target_recall() -> None:
    # Ten "other" photos; rabbit leads on four of them by 0.5, 1, 2 and 4.
    gaps = [-3.0, -2.0, -1.0, -1.0, -0.5, -0.2, 0.5, 1.0, 2.0, 4.0]
    rows = other_rows(gaps)
    rabbits = np.full((3, NUM_LABELS), -10.0)
    rabbits[:, OTHER] = 0.0
    rabbits[:, RABBIT] = [1.5, 3.0, 5.0]  # rabbit photos, which a large bias would steal
    logits = np.concatenate([rows, rabbits])
    truth = np.asarray([OTHER] * 10 + [RABBIT] * 3)
    assert recall(logits, truth) == pytest.approx(0.6)
    bias = recall_bias(logits, truth, target_recall=0.8)
    assert 1.0 < bias < 1.01  # the second smallest lead, just past the tie
    shifted = logits.copy()
    shifted[:, OTHER] += bias
    assert recall(shifted, truth) == pytest.approx(0.8)
    assert np.mean(shifted[truth == RABBIT].argmax(axis=1) == RABBIT) == 1.0
    shifted[:, OTHER] -= 0.02
    assert recall(shifted, truth) == pytest.approx(0.7)  # any smaller bias falls short


def test_no_bias_when_the_recall_is_already_there() -> None:
    truth = np.full(4, OTHER)
    assert recall_bias(other_rows([-1.0, -1.0, -1.0, 2.0]), truth, target_recall=0.75) == 0.0
    assert recall_bias(other_rows([1.0, 1.0]), truth[:2], target_recall=0.0) == 0.0
    assert recall_bias(np.zeros((0, NUM_LABELS)), np.zeros(0, np.int64), 0.9) == 0.0


def test_a_target_of_one_needs_every_photo() -> None:
    truth = np.full(3, OTHER)
    bias = recall_bias(other_rows([0.5, 3.0, -1.0]), truth, target_recall=1.0)
    assert 3.0 < bias < 3.01


def rabbit_rows(leads: list[float]) -> np.ndarray:
    """Logits of rabbit photos where rabbit leads "other" by each lead (negative: lost)."""
    logits = np.full((len(leads), NUM_LABELS), -10.0)
    logits[:, OTHER] = 0.0
    logits[:, RABBIT] = leads
    return logits


def test_the_cap_lets_a_label_lose_one_photo_and_what_it_has_above_its_floor() -> None:
    # Ten rabbit photos, eight right (leads 0.5 to 4), two already lost to "other".
    leads = [-1.0, -0.5, 0.5, 0.8, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0]
    logits, truth = rabbit_rows(leads), np.full(10, RABBIT)
    floors = np.zeros(NUM_LABELS)
    floors[RABBIT] = 0.6  # six must stay: two may go, and one more
    cap = bias_cap(logits, truth, floors)
    assert cap == pytest.approx(1.5)
    shifted = logits.copy()
    shifted[:, OTHER] += cap
    assert np.mean(shifted.argmax(axis=1) == RABBIT) == pytest.approx(0.5)
    floors[RABBIT] = 0.9  # above what it has: only one photo may go
    assert bias_cap(logits, truth, floors) == pytest.approx(0.8)
    floors[RABBIT] = 0.1  # a floor of one photo: nothing to protect
    assert bias_cap(logits, truth, floors) == np.inf


def two_stolen(rabbit_leads: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Ten "other" photos, two taken by rabbit (by 1 and 3), and rabbit photos."""
    logits = np.concatenate([other_rows([-2.0] * 8 + [1.0, 3.0]), rabbit_rows(rabbit_leads)])
    return logits, np.asarray([OTHER] * 10 + [RABBIT] * len(rabbit_leads))


def test_fit_bias_gives_other_back_what_costs_no_other_label() -> None:
    logits, truth = two_stolen([3.5, 4.0, 5.0, 6.0])
    v0 = np.full(len(truth), OTHER)  # model v0 knows no rabbit
    bias = fit_bias(logits, truth, v0, margin=0.0)
    assert 3.0 < bias < 3.01
    shifted = logits.copy()
    shifted[:, OTHER] += bias
    assert recall(shifted, truth) == 1.0
    assert np.all(shifted.argmax(axis=1) == truth)


def test_fit_bias_stops_where_another_label_would_lose_a_second_photo() -> None:
    logits, truth = two_stolen([0.5, 2.0, 2.5, 5.0])
    # Whatever model v0 knew of rabbits: the challenger's own rabbits are protected.
    for v0 in (truth.copy(), np.full(len(truth), OTHER)):
        assert fit_bias(logits, truth, v0, margin=0.0) == pytest.approx(2.0)
    shifted = logits.copy()
    shifted[:, OTHER] += 2.0
    assert np.mean(shifted[truth == RABBIT].argmax(axis=1) == RABBIT) == 0.75
    assert recall(shifted, truth) == pytest.approx(0.9)


def test_fit_bias_keeps_all_but_the_margin_of_what_v0_gets_right() -> None:
    logits, truth = two_stolen([3.5, 4.0, 5.0, 6.0])
    v0 = np.full(len(truth), OTHER)
    v0[9] = RABBIT  # v0 misses the hardest "other" photo too: nothing to keep there
    assert reference_recall(v0, truth)[OTHER] == pytest.approx(0.9)
    assert reference_recall(v0, truth)[RABBIT] == 0.0
    assert 1.0 < fit_bias(logits, truth, v0, margin=0.0) < 1.01
    assert fit_bias(logits, truth, np.full(len(truth), OTHER), margin=0.2) == 0.0


def test_folds_spread_every_label_and_are_seeded() -> None:
    labels = np.asarray([0] * 7 + [5] * 3 + [OTHER] * 11)
    folds = fold_of(labels, 3, np.random.default_rng(4))
    for label in (0, 5, OTHER):
        counts = np.bincount(folds[labels == label], minlength=3)
        assert counts.max() - counts.min() <= 1
    assert np.array_equal(folds, fold_of(labels, 3, np.random.default_rng(4)))


def test_out_of_fold_logits_come_from_heads_that_never_saw_the_row() -> None:
    rng = np.random.default_rng(0)
    labels = np.asarray([OTHER] * 6 + [RABBIT] * 6)
    inputs = np.zeros((12, HEAD_INPUT_SIZE), np.float32)
    trained_on: list[set[int]] = []

    def fit(rows: np.ndarray) -> Head:
        trained_on.append(set(rows.tolist()))
        bias = np.zeros(NUM_LABELS, np.float32)
        bias[0] = len(trained_on)  # which probe scored a row
        return Head(np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32), bias)

    logits = out_of_fold_logits(inputs, labels, 3, fit, rng)
    assert len(trained_on) == 3
    for row in range(12):
        probe = int(logits[row, 0]) - 1
        assert row not in trained_on[probe]
        assert all(row in rows for index, rows in enumerate(trained_on) if index != probe)


def test_with_other_bias_moves_only_the_other_logit() -> None:
    head = Head(
        np.ones((HEAD_INPUT_SIZE, NUM_LABELS), np.float32), np.zeros(NUM_LABELS, np.float32)
    )
    shifted = with_other_bias(head, 1.5)
    assert shifted.bias[OTHER] == pytest.approx(1.5)
    assert np.count_nonzero(shifted.bias) == 1
    assert shifted.weights is head.weights
