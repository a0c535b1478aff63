"""A bias on the "other" logit that keeps the challenger's "other" recall near model v0's.

"other" is everything that is not one of the 15 animals, and model v0 calls everything it
does not know "other" (recall near 1.0), so a head trained on a round's feedback easily
steals from it: a wolf the embedding places near the rabbits becomes a rabbit, although
v0 gives rabbit a probability of 0.001. After training, the round measures how much: the
training photos are cut into folds, a probe head is trained on all folds but one and
scores the one left out, so every photo gets a score from a head that never trained on
it. The bias is the smallest one with which the probes keep the "other" photos v0 gets
right (all but a margin), unless it costs another label more than the margin and one
photo (``fit_bias``); it is added to the trained head's "other" logit. The held-out test
set is never used: the gate judges the head on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from core.labels import LABEL_INDEX
from core.model.classifier import NUM_LABELS, Head

OTHER = LABEL_INDEX["other"]
Fit = Callable[[np.ndarray], Head]  # indices of the training rows -> a head trained on them


def fold_of(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Return each row's fold, every label dealt round-robin over the folds in random order."""
    assignment = np.zeros(len(labels), np.int64)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        assignment[rng.permutation(rows)] = np.arange(len(rows)) % folds
    return assignment


def out_of_fold_logits(
    inputs: np.ndarray, labels: np.ndarray, folds: int, fit: Fit, rng: np.random.Generator
) -> np.ndarray:
    """Return every row's logits from a head fitted without the row's fold."""
    assignment = fold_of(labels, folds, rng)
    logits = np.zeros((len(labels), NUM_LABELS), np.float64)
    for fold in range(folds):
        held = assignment == fold
        if not held.any() or held.all():
            continue
        probe = fit(np.flatnonzero(~held))
        logits[held] = np.asarray(inputs[held], np.float64) @ probe.weights + probe.bias
    return logits


def needed_bias(logits: np.ndarray) -> np.ndarray:
    """Return, per row, the smallest bias on "other" that makes it the top label (0 if it is)."""
    rivals = np.delete(logits, OTHER, axis=1).max(axis=1)
    result: np.ndarray = np.maximum(rivals - logits[:, OTHER], 0.0)
    return result


def recall_bias(logits: np.ndarray, truth: np.ndarray, target_recall: float) -> float:
    """Return the smallest bias with which "other" recall on the rows reaches the target.

    A photo counts as recalled when "other" is at least level with the best rival; the
    returned bias is nudged just past the tie so the argmax picks "other" there too.
    """
    needs = np.sort(needed_bias(logits[truth == OTHER]))
    required = min(len(needs), math.ceil(target_recall * len(needs) - 1e-9))
    if required <= 0:
        return 0.0
    bias = float(needs[required - 1])
    return bias * (1 + 1e-6) + 1e-6 if bias > 0 else 0.0


def bias_cap(logits: np.ndarray, truth: np.ndarray, floors: np.ndarray) -> float:
    """Return the largest bias that pulls no other label's recall below its floor.

    A label may always lose one photo to "other" (with five photos of a label, one is 20
    points), and never more than it has above its floor; a label already under it loses
    only that one.
    """
    cap = math.inf
    for label in np.unique(truth):
        if label == OTHER:
            continue
        rows = logits[truth == label]
        right = rows[rows.argmax(axis=1) == label]
        gaps = np.sort(right[:, label] - right[:, OTHER])  # the bias at which each is lost
        floor = math.ceil(floors[label] * len(rows) - 1e-9)
        lost = len(gaps) - max(min(len(gaps), floor) - 1, 0)  # photos it may lose
        if lost < len(gaps):
            cap = min(cap, float(gaps[lost]))
    return cap


def fit_bias(logits: np.ndarray, truth: np.ndarray, v0: np.ndarray, margin: float) -> float:
    """Return the bias on "other" for out-of-fold logits of photos with known labels.

    ``v0`` holds model v0's predicted label of each photo. The bias is the smallest that
    keeps all but ``margin`` of the "other" photos model v0 gets right, lowered until it
    would cost another label more than ``margin`` of its recall and one photo
    (``bias_cap``): "other" takes back what is cheap, never a label's worth of photos.
    """
    known = (truth == OTHER) & (v0 == OTHER)
    wanted = recall_bias(logits[known], truth[known], 1.0 - margin)
    floors = reference_recall(logits.argmax(axis=1), truth) - margin
    return max(min(wanted, bias_cap(logits, truth, floors)), 0.0)


def reference_recall(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Return each label's recall of index predictions (0 for labels absent from ``truth``)."""
    recall = np.zeros(NUM_LABELS)
    for label in np.unique(truth):
        recall[label] = float(np.mean(predicted[truth == label] == label))
    return recall


def with_other_bias(head: Head, bias: float) -> Head:
    """Return the head with ``bias`` added to its "other" logit."""
    shifted = head.bias.astype(np.float64).copy()
    shifted[OTHER] += bias
    return Head(weights=head.weights, bias=shifted.astype(np.float32))
