"""Training the 16-way head: weighted softmax regression warm-started from the champion.

The head sees the 1280-d embedding followed by model v0's 16 log-probabilities (the ImageNet
taxonomy prior). Model v0 itself is such a head: zero weights on the embedding and the identity
on the log-probabilities reproduce its probabilities, so every challenger starts from its
champion. Inputs are standardised while training (the log-probabilities span -30..0, the
embedding 0..6) and the scaling is folded back into W and b, so the stored head works on raw
features. An L2 pull towards the champion's weights keeps what it knew (old classes are also
replayed); it is much weaker on the embedding weights of the labels model v0 has no prior for
(giraffe, deer), which otherwise cannot outvote the prior's confident wrong guess (horse,
rabbit) from the few examples of a round. Class weights keep rare labels from being drowned.
With ``other_folds`` set, a bias on "other" fitted on cross-fitted scores of the round's new
photos is added after training (``retraining.other_bias``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from core.labels import LABEL_INDEX, imagenet_to_label
from core.model.api import EMBEDDING_SIZE
from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from core.model.features import FeatureCache
from core.settings import TrainingSettings
from retraining.datasets import Example, Manifest
from retraining.other_bias import (
    OTHER,
    fit_bias,
    out_of_fold_logits,
    reference_recall,
    with_other_bias,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings of the head (their defaults live in ``TrainingSettings``)."""

    steps: int
    learning_rate: float
    anchor: float  # L2 pull towards the champion, in standardised units
    # The pull on the embedding weights of labels model v0 has no prior for (giraffe, deer):
    # everything about them must come from the embedding, so they get more freedom.
    anchor_unknown: float
    balance_power: float  # class weight = (mean count / count) ** power
    replay_fraction: float  # replayed earlier examples per new one
    # The bias on "other" (``retraining.other_bias``): cross-fit folds (0 = none), and the
    # share of v0's right "other" photos it may leave lost (the recall it may cost others).
    other_folds: int = 0
    other_margin: float = 0.0
    seed: int = 0

    @classmethod
    def from_settings(cls, section: TrainingSettings) -> TrainConfig:
        """Build the optimiser settings from the ``training`` settings section."""
        return cls(
            steps=section.steps,
            learning_rate=section.learning_rate,
            anchor=section.anchor,
            anchor_unknown=section.anchor_unknown,
            balance_power=section.balance_power,
            replay_fraction=section.replay_fraction,
            other_folds=section.other_folds,
            other_margin=section.other_margin,
        )


def unknown_labels() -> list[int]:
    """Return the label indices no ImageNet class maps to (model v0 never predicts them)."""
    return sorted(set(range(NUM_LABELS)) - set(imagenet_to_label()))


def anchor_matrix(config: TrainConfig) -> np.ndarray:
    """Return the per-weight strength of the pull towards the champion, ``(1296, 16)``."""
    anchor = np.full((HEAD_INPUT_SIZE, NUM_LABELS), config.anchor, np.float64)
    anchor[:EMBEDDING_SIZE, unknown_labels()] = config.anchor_unknown
    return anchor


def taxonomy_head() -> Head:
    """Return the head equivalent to model v0 (identity on the log-probabilities)."""
    weights = np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32)
    weights[EMBEDDING_SIZE:, :] = np.eye(NUM_LABELS, dtype=np.float32)
    return Head(weights=weights, bias=np.zeros(NUM_LABELS, np.float32))


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Return per-example weights that even out label frequencies (power 0 = off)."""
    counts = np.bincount(labels, minlength=NUM_LABELS).astype(np.float64)
    present = counts > 0
    per_label = np.zeros(NUM_LABELS)
    per_label[present] = (counts[present].mean() / counts[present]) ** power
    result: np.ndarray = per_label[labels]
    return result


def train_head(
    inputs: np.ndarray,
    labels: np.ndarray,
    sample_weights: np.ndarray,
    start: Head,
    config: TrainConfig,
) -> Head:
    """Fit a head on ``(N, 1296)`` inputs and label indices, starting from ``start``."""
    if len(inputs) == 0:
        raise ValueError("nothing to train on")
    x = np.asarray(inputs, np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    # The starting head expressed on standardised inputs: x @ W + b == z @ Ws + bs.
    w0 = start.weights.astype(np.float64) * scale[:, None]
    b0 = start.bias.astype(np.float64) + mean @ start.weights.astype(np.float64)
    weights = np.asarray(sample_weights, np.float64) * class_weights(labels, config.balance_power)
    weights = weights / weights.sum()
    onehot = np.eye(NUM_LABELS)[labels]
    w, b = _adam(z, onehot, weights, (w0, b0), config)
    return Head(
        weights=(w / scale[:, None]).astype(np.float32),
        bias=(b - (mean / scale) @ w).astype(np.float32),
    )


def _adam(
    z: np.ndarray,
    onehot: np.ndarray,
    weights: np.ndarray,
    start: tuple[np.ndarray, np.ndarray],
    config: TrainConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch Adam on the weighted cross-entropy plus the anchor penalty."""
    w0 = start[0]
    anchor = anchor_matrix(config)
    w, b = start[0].copy(), start[1].copy()
    moments = [np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, config.steps + 1):
        error = (_softmax(z @ w + b) - onehot) * weights[:, None]
        grad_w = z.T @ error + anchor * (w - w0)
        grad_b = error.sum(axis=0)
        for index, (param, grad) in enumerate(((w, grad_w), (b, grad_b))):
            first, second = moments[2 * index], moments[2 * index + 1]
            first *= beta1
            first += (1 - beta1) * grad
            second *= beta2
            second += (1 - beta2) * grad**2
            corrected = first / (1 - beta1**step)
            step_size = config.learning_rate * corrected
            np.subtract(param, step_size / (np.sqrt(second / (1 - beta2**step)) + eps), out=param)
    return w, b


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    result: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def head_probabilities(head: Head, inputs: np.ndarray) -> np.ndarray:
    """Return the head's label probabilities for ``(N, 1296)`` inputs."""
    return _softmax(np.asarray(inputs, np.float64) @ head.weights + head.bias)


def replay_sample(old: list[Example], count: int, rng: np.random.Generator) -> list[Example]:
    """Pick ``count`` earlier examples, spread evenly over their labels."""
    if count >= len(old):
        return list(old)
    by_label: dict[str, list[Example]] = {}
    for example in old:
        by_label.setdefault(example.label, []).append(example)
    quota = -(-count // len(by_label))
    picked: list[Example] = []
    for examples in by_label.values():
        order = rng.permutation(len(examples))[:quota]
        picked += [examples[i] for i in order]
    order = rng.permutation(len(picked))[:count]
    return [picked[i] for i in sorted(order)]


def train_on_manifest(
    features: FeatureCache,
    manifest: Manifest,
    start: Head | None,
    known: str | None,
    config: TrainConfig,
) -> Head:
    """Train on examples the champion never saw plus a replay sample of those it did.

    ``known`` is the dataset version the champion was trained on (None for model v0): a
    refused challenger's examples count as new again for the next one.
    """
    train = [e for e in manifest.examples if e.split == "train"]
    seen = _number(known)
    new = [e for e in train if _number(e.added_in) > seen]
    old = [e for e in train if _number(e.added_in) <= seen]
    rng = np.random.default_rng(config.seed + int(manifest.version.lstrip("d") or 0))
    count = round(config.replay_fraction * len(new))
    chosen = new + replay_sample(old, count, rng)
    inputs = features.get([e.image_id for e in chosen]).head_inputs()
    labels = np.asarray([LABEL_INDEX[e.label] for e in chosen], np.int64)
    weights = np.asarray([e.weight for e in chosen], np.float64)
    start = start or taxonomy_head()
    head = train_head(inputs, labels, weights, start, config)
    judged = np.arange(len(chosen)) < len(new)  # replayed photos shaped the champion itself
    bias = other_bias(inputs, labels, weights, start, config, rng=rng, judged=judged)
    return with_other_bias(head, bias)


def other_bias(
    inputs: np.ndarray,
    labels: np.ndarray,
    sample_weights: np.ndarray,
    start: Head,
    config: TrainConfig,
    *,
    rng: np.random.Generator,
    judged: np.ndarray,
) -> float:
    """Return the bias on "other" that keeps its cross-fitted recall near model v0's.

    Probe heads are trained like the challenger on all folds but one; only the ``judged``
    rows' scores count (the new photos: the champion itself was trained on the replayed
    ones, which the probes then nearly all get right). 0 with no folds, or when fewer
    judged "other" photos than folds.
    """
    others = int(np.sum(judged & (labels == OTHER)))
    if config.other_folds < 2 or others < config.other_folds:
        return 0.0

    def fit(rows: np.ndarray) -> Head:
        return train_head(inputs[rows], labels[rows], sample_weights[rows], start, config)

    logits = out_of_fold_logits(inputs, labels, config.other_folds, fit, rng)[judged]
    truth = labels[judged]
    v0 = head_probabilities(taxonomy_head(), inputs[judged]).argmax(axis=1)
    bias = fit_bias(logits, truth, v0, config.other_margin)
    recall = reference_recall(v0, truth)[OTHER]
    log.info("bias on other %.3f (%d photos, model v0 recall %.3f)", bias, others, recall)
    return bias


def _number(version: str | None) -> int:
    return int(version[1:]) if version else 0
