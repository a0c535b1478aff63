"""The annotator model: known confusion matrices come back, newcomers and anonymity weigh little."""

from __future__ import annotations

import numpy as np
import pytest

from core.annotators import ADMIN, ANONYMOUS, KNOWN, Answers, Priors, estimate, one_coin

LABELS = 6


def synthetic(
    confusion: np.ndarray, n_items: int, per_item: int, seed: int
) -> tuple[Answers, np.ndarray]:
    """Photos with a true label, each answered by ``per_item`` people drawn at random."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(LABELS, size=n_items)
    items = np.repeat(np.arange(n_items), per_item)
    people = np.concatenate([rng.choice(len(confusion), per_item, replace=False)
                             for _ in range(n_items)])  # fmt: skip
    rows = confusion[people, truth[items]]
    labels = np.minimum((rng.random(len(items))[:, None] > rows.cumsum(axis=1)).sum(axis=1),
                        LABELS - 1)  # fmt: skip
    kinds = np.full(len(confusion), KNOWN)
    return Answers(items, people, labels, kinds, n_items, LABELS), truth


def test_known_confusion_matrices_are_recovered() -> None:
    accuracy = np.array([0.95, 0.9, 0.85, 0.8, 0.9, 0.95, 0.7, 0.9])
    confusion = one_coin(accuracy, LABELS)
    swapper = np.eye(LABELS)  # says 1 for 0 and 0 for 1, otherwise right
    swapper[[0, 1]] = swapper[[1, 0]]
    confusion = np.concatenate([confusion, swapper[None]])
    answers, truth = synthetic(confusion, n_items=3000, per_item=5, seed=0)
    found = estimate(answers)
    assert np.abs(found.reliability[:8] - accuracy).max() < 0.05
    assert np.abs(found.confusion[:8] - confusion[:8]).max() < 0.1
    assert (found.confusion[8].argmax(axis=1) == swapper.argmax(axis=1)).all()
    assert found.confusion[8, 0, 1] > 0.75 and found.confusion[8, 1, 0] > 0.75
    assert found.reliability[8] == pytest.approx(1 - 2 / LABELS, abs=0.05)  # right on 4 of 6
    assert np.mean(found.posterior.argmax(axis=1) == truth) > 0.99


def test_colluders_vouching_for_each_other_stay_unreliable() -> None:
    honest = one_coin(np.full(6, 0.9), LABELS)
    mapping = np.roll(np.eye(LABELS), 1, axis=1)  # a consistent wrong label for every label
    answers, truth = synthetic(honest, n_items=1500, per_item=2, seed=1)
    rng = np.random.default_rng(2)
    attacked = rng.choice(1500, 300, replace=False)  # each attacked photo: both colluders
    wrong = (truth[attacked] + 1) % LABELS
    colluded = Answers(
        np.concatenate([answers.items, attacked, attacked]),
        np.concatenate([answers.people, np.full(300, 6), np.full(300, 7)]),
        np.concatenate([answers.labels, wrong, wrong]),
        np.full(8, KNOWN), 1500, LABELS,
    )  # fmt: skip
    found = estimate(colluded)
    assert found.reliability[6:].max() < 0.2
    assert found.reliability[:6].min() > 0.8
    # their lie is read through: each label's most likely answer from them is the mapped one
    assert (found.confusion[6].argmax(axis=1) == mapping.argmax(axis=1)).all()
    assert np.allclose(found.confusion[6], mapping, atol=0.2)
    assert np.mean(found.posterior[attacked].argmax(axis=1) == truth[attacked]) > 0.95


def test_a_newcomer_and_an_anonymous_session_weigh_little() -> None:
    # photo 0: an established person says 0; photo 1: a newcomer alone says 2;
    # photo 2: an anonymous session that agreed with the others 30 times says 3
    history_items = np.repeat(np.arange(3, 33), 2)
    history_people = np.tile([0, 3], 30)
    items = np.concatenate([history_items, [0, 1, 2]])
    people = np.concatenate([history_people, [0, 1, 3]])
    labels = np.concatenate([np.repeat(np.arange(30) % LABELS, 2), [0, 2, 3]])
    kinds = np.array([ADMIN, KNOWN, KNOWN, ANONYMOUS])
    found = estimate(Answers(items, people, labels, kinds, 33, LABELS))
    assert found.posterior[0, 0] > 0.99
    assert found.posterior[1, 2] == pytest.approx(
        Priors().known_accuracy / (Priors().known_accuracy + (1 - Priors().known_accuracy)),
        abs=0.25,
    )
    assert found.posterior[1, 2] < 0.6
    assert found.reliability[1] == pytest.approx(Priors().known_accuracy)
    assert found.reliability[3] < 0.6  # 30 agreements do not make a session trusted
    assert found.posterior[2, 3] < 0.8


def test_no_answers_give_an_empty_estimate() -> None:
    empty = np.zeros(0, np.int64)
    found = estimate(Answers(empty, empty, empty, np.zeros(0, np.int64), 0, LABELS))
    assert found.posterior.shape == (0, LABELS) and found.reliability.shape == (0,)
