"""The head: starts as model v0, learns new labels, keeps old ones through replay."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.labels import LABEL_INDEX
from core.model.classifier import LOG_PROB_FLOOR, softmax
from core.settings import TrainingSettings
from retraining.datasets import Example
from retraining.train import (
    TrainConfig,
    anchor_matrix,
    class_weights,
    head_probabilities,
    other_bias,
    replay_sample,
    taxonomy_head,
    train_head,
    unknown_labels,
)
from tests.unit.test_retraining_synthetic import synthetic

DEFAULT = TrainConfig.from_settings(TrainingSettings())


def test_taxonomy_head_reproduces_model_v0() -> None:
    rng = np.random.default_rng(0)
    log_probs = np.log(rng.dirichlet(np.ones(16), size=8))
    log_probs[:, 4] = LOG_PROB_FLOOR
    inputs = np.concatenate([rng.random((8, 1280)), log_probs], axis=1)
    expected = softmax(log_probs)
    assert np.allclose(head_probabilities(taxonomy_head(), inputs), expected, atol=1e-6)


def test_training_learns_the_labels_and_generalises() -> None:
    data, test = synthetic(30, seed=1), synthetic(10, seed=2)
    head = train_head(data.inputs, data.labels, np.ones(len(data.labels)), taxonomy_head(), DEFAULT)
    accuracy = np.mean(head_probabilities(head, test.inputs).argmax(axis=1) == test.labels)
    assert accuracy > 0.95
    assert head.weights.dtype == np.float32


def test_replay_keeps_old_labels_when_new_ones_arrive() -> None:
    old, new = synthetic(30, seed=1, labels=range(8)), synthetic(30, seed=2, labels=range(8, 16))
    test_old = synthetic(10, seed=3, labels=range(8))
    # The synthetic prior is flat: v0 knows none of the 16 labels, so one pull for all of them
    # (a freer pull on giraffe and deer alone would only model a prior that knows the rest).
    config = replace(DEFAULT, steps=150, anchor_unknown=DEFAULT.anchor)
    first = train_head(old.inputs, old.labels, np.ones(len(old.labels)), taxonomy_head(), config)
    replay = np.random.default_rng(0).permutation(len(old.labels))[:120]
    inputs = np.concatenate([new.inputs, old.inputs[replay]])
    labels = np.concatenate([new.labels, old.labels[replay]])
    second = train_head(inputs, labels, np.ones(len(labels)), first, config)
    kept = np.mean(head_probabilities(second, test_old.inputs).argmax(axis=1) == test_old.labels)
    assert kept > 0.95


def test_class_weights_even_out_frequencies() -> None:
    labels = np.array([0] * 30 + [1] * 10)
    weights = class_weights(labels, power=1.0)
    assert weights[labels == 0].sum() == pytest.approx(weights[labels == 1].sum())
    assert np.all(class_weights(labels, power=0.0) == 1.0)


def test_replay_sample_spreads_over_labels_and_is_seeded() -> None:
    old = [Example(f"i{n}", "dog" if n < 90 else "cat", "feedback", 1.0, "train")
           for n in range(100)]  # fmt: skip
    first = replay_sample(old, 20, np.random.default_rng(5))
    again = replay_sample(old, 20, np.random.default_rng(5))
    assert first == again and len(first) == 20
    assert sum(e.label == "cat" for e in first) >= 8
    assert replay_sample(old, 500, np.random.default_rng(5)) == old


def test_empty_training_set_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to train on"):
        train_head(
            np.zeros((0, 1296)), np.zeros(0, np.int64), np.zeros(0), taxonomy_head(), DEFAULT
        )


def test_labels_model_v0_lacks_get_a_weaker_pull_on_their_embedding_weights() -> None:
    unknown = [LABEL_INDEX["giraffe"], LABEL_INDEX["deer"]]
    assert unknown_labels() == unknown
    anchor = anchor_matrix(replace(DEFAULT, anchor=1, anchor_unknown=0.001))  # an int anchor too
    assert anchor.shape == (1296, 16)
    assert np.all(anchor[:1280, unknown] == 0.001)
    assert np.all(anchor[1280:, unknown] == 1.0)  # their (constant) prior inputs
    assert np.all(np.delete(anchor, unknown, axis=1) == 1.0)


def _v0_world(n_per_label: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic photos whose v0 prior is sure of known labels and takes deer for rabbits."""
    data = synthetic(n_per_label, seed=seed)
    inputs, labels = data.inputs.copy(), data.labels
    unknown = unknown_labels()
    guess = np.where(np.isin(labels, unknown), labels - 1, labels)
    log_probs = np.full((len(labels), 16), np.log(0.02 / 13))
    log_probs[np.arange(len(labels)), guess] = np.log(0.98)
    log_probs[:, unknown] = LOG_PROB_FLOOR
    inputs[:, 1280:] = log_probs
    return inputs, labels


def test_new_labels_are_learned_from_few_examples_under_a_strong_pull() -> None:
    (inputs, labels), (test_inputs, truth) = _v0_world(4, seed=1), _v0_world(20, seed=2)
    new = np.isin(truth, unknown_labels())

    def recalls(config: TrainConfig) -> tuple[float, float]:
        head = train_head(inputs, labels, np.ones(len(labels)), taxonomy_head(), config)
        right = head_probabilities(head, test_inputs).argmax(axis=1) == truth
        return float(np.mean(right[new])), float(np.mean(right[~new]))

    uniform_new, uniform_old = recalls(replace(DEFAULT, anchor=1.0, anchor_unknown=1.0))
    freer_new, freer_old = recalls(replace(DEFAULT, anchor=1.0, anchor_unknown=1e-4))
    assert uniform_new < 0.2 and freer_new > 0.6  # the prior no longer drowns them...
    assert freer_old > 0.95 and uniform_old > 0.95  # ...and known labels stay right


def test_no_bias_on_other_where_the_head_steals_nothing() -> None:
    inputs, labels = _v0_world(12, seed=3)
    new = np.ones(len(labels), bool)
    config = replace(DEFAULT, other_folds=3, other_margin=0.0)
    rng = np.random.default_rng(0)
    assert other_bias(inputs, labels, np.ones(len(labels)), taxonomy_head(), config,
                      rng=rng, judged=new) == 0.0  # fmt: skip


def test_a_single_fold_is_refused() -> None:
    with pytest.raises(ValueError, match="other_folds"):
        TrainingSettings(other_folds=1)
    assert TrainConfig.from_settings(TrainingSettings(other_folds=0)).other_folds == 0
