"""Evaluation figures over the 16 labels, shared by the CLI, tests and retraining."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.labels import LABEL_INDEX, VALID_LABELS


@dataclass(frozen=True)
class Scores:
    """Accuracy, macro-F1, per-label recall and the confusion matrix of one evaluation."""

    accuracy: float
    macro_f1: float
    per_label: dict[str, float | None]  # recall; None for a label with no true example
    support: dict[str, int]
    confusion: np.ndarray  # int64 (16, 16): rows true label, columns predicted label

    def to_json(self, model_version: str | None = None) -> dict[str, Any]:
        """Return the JSON form printed by ``creature-vis evaluate --json``."""
        result: dict[str, Any] = {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_label": self.per_label,
            "support": self.support,
            "confusion": self.confusion.tolist(),
        }
        if model_version is not None:
            result["model_version"] = model_version
        return result


def confusion_matrix(truth: Sequence[int], predicted: Sequence[int]) -> np.ndarray:
    """Count (true, predicted) label index pairs into a 16x16 matrix."""
    matrix = np.zeros((len(VALID_LABELS), len(VALID_LABELS)), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, dtype=np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def score(truth: Sequence[int | str], predicted: Sequence[int | str]) -> Scores:
    """Score predictions (label names or indices) against the truth."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    matrix = confusion_matrix([_index(t) for t in truth], [_index(p) for p in predicted])
    return scores_from_confusion(matrix)


def scores_from_confusion(matrix: np.ndarray) -> Scores:
    """Derive every figure from a confusion matrix.

    Macro-F1 averages over labels that occur in the truth or the predictions, so a label
    absent from a test set does not count as a zero.
    """
    true_counts = matrix.sum(axis=1)
    predicted_counts = matrix.sum(axis=0)
    hits = np.diag(matrix)
    total = int(matrix.sum())
    per_label: dict[str, float | None] = {}
    f1s = []
    for i, label in enumerate(VALID_LABELS):
        recall = hits[i] / true_counts[i] if true_counts[i] else None
        per_label[label] = None if recall is None else float(recall)
        if true_counts[i] or predicted_counts[i]:
            f1s.append(2 * hits[i] / (true_counts[i] + predicted_counts[i]))
    return Scores(
        accuracy=float(hits.sum() / total) if total else 0.0,
        macro_f1=float(np.mean(f1s)) if f1s else 0.0,
        per_label=per_label,
        support={label: int(true_counts[i]) for i, label in enumerate(VALID_LABELS)},
        confusion=matrix,
    )


def format_report(scores: Scores, model_version: str | None = None) -> str:
    """Render scores as a plain-text report: totals, per-label recall, confusion matrix."""
    lines = []
    if model_version is not None:
        lines.append(f"model version: {model_version}")
    total = int(scores.confusion.sum())
    lines += [f"photos: {total}", f"accuracy: {scores.accuracy:.4f}"]
    lines += [f"macro-F1: {scores.macro_f1:.4f}", "", "per-label recall:"]
    for label in VALID_LABELS:
        recall = scores.per_label[label]
        shown = "   n/a" if recall is None else f"{recall:6.3f}"
        lines.append(f"  {label:<9} {shown}  (n={scores.support[label]})")
    lines += ["", "confusion matrix (rows: true, columns: predicted):"]
    short = [label[:5] for label in VALID_LABELS]
    lines.append(" " * 10 + "".join(f"{name:>6}" for name in short))
    for label, row in zip(VALID_LABELS, scores.confusion, strict=True):
        lines.append(f"{label:<10}" + "".join(f"{int(v):>6}" for v in row))
    return "\n".join(lines)


def _index(value: int | str) -> int:
    if isinstance(value, str):
        return LABEL_INDEX[value]
    return int(value)
