"""Champion vs challenger on the held-out test set: scores, a paired test, and the gate.

The paired test is McNemar's exact test: of the test photos exactly one of the two models
gets right, the challenger must win significantly more than half (one-sided binomial tail).
The per-class bound refuses a challenger whose recall on any label falls by more than
``max_class_drop``; losing a single photo never counts, because with five test snakes one
photo is already 20 points of recall.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import comb
from typing import Any

import numpy as np

from core.labels import VALID_LABELS
from core.model import calibration
from core.model.classifier import Features, Head
from core.model.metrics import Scores, scores_from_confusion
from core.model.metrics import confusion_matrix as confusion
from core.settings import PromotionSettings
from retraining.train import head_probabilities, taxonomy_head


def predict(head: Head | None, features: Features) -> np.ndarray:
    """Return predicted label indices of a version (None = model v0) on cached features."""
    if len(features.embeddings) == 0:
        return np.zeros(0, np.int64)
    probabilities = head_probabilities(head or taxonomy_head(), features.head_inputs())
    result: np.ndarray = probabilities.argmax(axis=1)
    return result


def fit_calibration(
    head: Head | None, features: Features, truth: np.ndarray, coverage: float, test_version: str
) -> calibration.Calibration:
    """Fit a version's temperature and thresholds on the held-out test set's cached features."""
    probabilities = head_probabilities(head or taxonomy_head(), features.head_inputs())
    return calibration.fit(probabilities, truth, coverage, test_version)


def scores_of(truth: np.ndarray, predicted: np.ndarray) -> Scores:
    """Score index predictions."""
    return scores_from_confusion(confusion(truth.tolist(), predicted.tolist()))


def mcnemar_p(champion_right: np.ndarray, challenger_right: np.ndarray) -> float:
    """One-sided exact McNemar p-value that the challenger is right more often."""
    wins = int(np.sum(challenger_right & ~champion_right))
    losses = int(np.sum(champion_right & ~challenger_right))
    total = wins + losses
    if total == 0:
        return 1.0
    tail = sum(comb(total, k) for k in range(wins, total + 1))
    return float(Fraction(tail, 2**total))


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict and every figure behind it."""

    passed: bool
    reason: str
    figures: dict[str, Any]


def gate(
    truth: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    policy: PromotionSettings,
) -> GateResult:
    """Decide whether the challenger may replace the champion, from paired predictions."""
    champ_scores, chall_scores = scores_of(truth, champion), scores_of(truth, challenger)
    champion_right, challenger_right = champion == truth, challenger == truth
    p_value = mcnemar_p(champion_right, challenger_right)
    gain = chall_scores.accuracy - champ_scores.accuracy
    drops = _class_drops(truth, champion_right, challenger_right)
    figures: dict[str, Any] = {
        "test_photos": len(truth),
        "champion": _summary(champ_scores),
        "challenger": _summary(chall_scores),
        "accuracy_gain": gain,
        "p_value": p_value,
        "class_drops": drops,
    }
    if len(truth) == 0:
        return GateResult(False, "no held-out test photos yet", figures)
    worst = max(drops, key=lambda label: drops[label]["drop"], default=None)
    if worst is not None and _counts_as_regression(drops[worst], policy.max_class_drop):
        drop = drops[worst]["drop"]
        reason = f"{worst} recall falls by {drop:.3f} (> {policy.max_class_drop})"
        return GateResult(False, reason, figures)
    if gain <= policy.margin:
        reason = f"accuracy gain {gain:+.4f} not above margin {policy.margin}"
        return GateResult(False, reason, figures)
    if p_value >= policy.significance:
        reason = f"gain {gain:+.4f} not significant (McNemar p={p_value:.4f})"
        return GateResult(False, reason, figures)
    return GateResult(True, f"gain {gain:+.4f}, McNemar p={p_value:.2g}", figures)


def _class_drops(
    truth: np.ndarray, champion_right: np.ndarray, challenger_right: np.ndarray
) -> dict[str, dict[str, float]]:
    drops = {}
    for index, label in enumerate(VALID_LABELS):
        mask = truth == index
        support = int(mask.sum())
        if support:
            lost = int(champion_right[mask].sum()) - int(challenger_right[mask].sum())
            drops[label] = {"drop": lost / support, "lost": float(lost), "support": support}
    return drops


def _counts_as_regression(drop: dict[str, float], bound: float) -> bool:
    return drop["drop"] > bound and drop["lost"] > 1


def _summary(scores: Scores) -> dict[str, Any]:
    return {
        "accuracy": scores.accuracy,
        "macro_f1": scores.macro_f1,
        "per_label": scores.per_label,
        "confusion": scores.confusion.tolist(),
    }
