"""Model versions as classifiers over the 16 labels, on top of a backbone engine.

A version is one of two kinds:

* ``taxonomy`` (model v0): the softmax over the 1000 ImageNet classes summed per label
  through the WordNet mapping in ``core.labels``. It needs no training data.
* ``head``: a trained 16-way softmax layer, ``softmax(x @ W + b)`` with ``W`` of shape
  ``(1296, 16)``, whose input ``x`` is the 1280-d embedding followed by model v0's 16
  log-probabilities (floored at ``LOG_PROB_FLOOR``; giraffe and deer have none in ImageNet).

``compute_features`` gives retraining exactly what serving feeds the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.labels import VALID_LABELS, imagenet_to_label
from core.model.api import EMBEDDING_SIZE, Prediction
from core.model.calibration import Calibration, answer_sets, served
from core.model.preprocess import to_batch
from core.model.runtime import Engine

NUM_LABELS = len(VALID_LABELS)
HEAD_INPUT_SIZE = EMBEDDING_SIZE + NUM_LABELS
LOG_PROB_FLOOR = -30.0
DEFAULT_BATCH = 32
TOP_K = 3


@dataclass(frozen=True)
class Head:
    """Weights of a trained 16-way head."""

    weights: np.ndarray  # float32 (HEAD_INPUT_SIZE, NUM_LABELS)
    bias: np.ndarray  # float32 (NUM_LABELS,)

    def __post_init__(self) -> None:
        if self.weights.shape != (HEAD_INPUT_SIZE, NUM_LABELS) or self.bias.shape != (NUM_LABELS,):
            raise ValueError(
                f"head must be W {(HEAD_INPUT_SIZE, NUM_LABELS)} and b ({NUM_LABELS},), "
                f"got {self.weights.shape} and {self.bias.shape}"
            )
        if not (np.isfinite(self.weights).all() and np.isfinite(self.bias).all()):
            raise ValueError("head weights must be finite")


@dataclass(frozen=True)
class Features:
    """What retraining caches per photo: backbone embedding and model v0's log-probabilities."""

    embeddings: np.ndarray  # float32 (N, 1280)
    taxonomy_log_probs: np.ndarray  # float32 (N, 16), floored at LOG_PROB_FLOOR

    def head_inputs(self) -> np.ndarray:
        """Return the head's input rows, float32 ``(N, 1296)``."""
        return np.concatenate([self.embeddings, self.taxonomy_log_probs], axis=1)


def _label_groups() -> list[np.ndarray]:
    mapping = np.asarray(imagenet_to_label())
    return [np.flatnonzero(mapping == label) for label in range(NUM_LABELS)]


_GROUPS = _label_groups()


def taxonomy_log_probs(logits: np.ndarray) -> np.ndarray:
    """Return ``log`` of the ImageNet softmax summed per label, float64 ``(N, 16)``."""
    logits = np.asarray(logits, dtype=np.float64)
    peak = logits.max(axis=1, keepdims=True)
    shifted = np.exp(logits - peak)
    log_total = np.log(shifted.sum(axis=1))
    out = np.full((logits.shape[0], NUM_LABELS), -np.inf)
    with np.errstate(divide="ignore"):
        for label, columns in enumerate(_GROUPS):
            if columns.size:
                out[:, label] = np.log(shifted[:, columns].sum(axis=1)) - log_total
    return out


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    result: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def features_from_outputs(embeddings: np.ndarray, logits: np.ndarray) -> Features:
    """Turn raw backbone outputs into head features."""
    floored = np.maximum(taxonomy_log_probs(logits), LOG_PROB_FLOOR)
    return Features(
        embeddings=np.asarray(embeddings, dtype=np.float32),
        taxonomy_log_probs=floored.astype(np.float32),
    )


def compute_features(
    engine: Engine, images: Sequence[Image.Image], batch_size: int = DEFAULT_BATCH
) -> Features:
    """Run the backbone on pictures (any size) and return embeddings plus v0 log-probs."""
    parts = []
    for start in range(0, len(images), batch_size):
        batch = to_batch(images[start : start + batch_size])
        parts.append(features_from_outputs(*engine.run(batch)))
    if not parts:
        empty = np.zeros((0, EMBEDDING_SIZE), np.float32)
        return Features(empty, np.zeros((0, NUM_LABELS), np.float32))
    return Features(
        embeddings=np.concatenate([p.embeddings for p in parts]),
        taxonomy_log_probs=np.concatenate([p.taxonomy_log_probs for p in parts]),
    )


class ModelClassifier:
    """A model version (taxonomy or head) running on a backbone engine."""

    def __init__(
        self,
        version: str,
        engine: Engine,
        head: Head | None = None,
        batch_size: int = 32,
        calibration: Calibration | None = None,
    ) -> None:
        self.version = version
        self.engine = engine
        self.head = head
        self.batch_size = batch_size
        self.calibration = calibration

    def with_calibration(self, calibration: Calibration | None) -> ModelClassifier:
        """Return the same version serving with another calibration (same engine and head)."""
        return ModelClassifier(self.version, self.engine, self.head, self.batch_size, calibration)

    @property
    def kind(self) -> str:
        """``taxonomy`` or ``head``."""
        return "taxonomy" if self.head is None else "head"

    def predict(
        self, images: Sequence[Image.Image], shadow: ModelClassifier | None = None
    ) -> list[Prediction]:
        """Predict for RGB pictures of any size (``shadow``: see ``predict_batch``)."""
        predictions: list[Prediction] = []
        for start in range(0, len(images), self.batch_size):
            batch = to_batch(images[start : start + self.batch_size])
            predictions += self.predict_batch(batch, shadow)
        return predictions

    def predict_batch(
        self, batch: np.ndarray, shadow: ModelClassifier | None = None
    ) -> list[Prediction]:
        """Predict for a prepared input batch (float32 or uint8 ``(N, 224, 224, 3)``).

        Probabilities are the calibrated ones, and each prediction carries its answer set.
        A ``shadow`` classifier (a staged version) predicts too, from the same backbone pass
        when it shares the engine; its top label goes in each prediction's ``shadow``.
        """
        embeddings, logits = self.engine.run(np.asarray(batch, dtype=np.float32))
        log_probs = taxonomy_log_probs(logits)
        probabilities = self.calibrated(self._scores(embeddings, log_probs))
        threshold = None if self.calibration is None else self.calibration.set_threshold
        sets = answer_sets(probabilities, threshold)
        floored = np.maximum(log_probs, LOG_PROB_FLOOR).astype(np.float32)
        shadows = self._shadow_labels(shadow, batch, embeddings, log_probs)
        return [
            _prediction(row, embedding, prior, self.version, shadow_label, answer_set=answer_set)
            for row, embedding, prior, shadow_label, answer_set in zip(
                probabilities, embeddings, floored, shadows, sets, strict=True
            )
        ]

    def raw_probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Return the uncalibrated 16 label probabilities of a prepared input batch."""
        embeddings, logits = self.engine.run(np.asarray(batch, dtype=np.float32))
        return self._scores(embeddings, taxonomy_log_probs(logits))

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        """Return raw probabilities as this version serves them (unchanged if uncalibrated)."""
        return served(probabilities, self.calibration)

    def _scores(self, embeddings: np.ndarray, log_probs: np.ndarray) -> np.ndarray:
        if self.head is None:
            taxonomy: np.ndarray = np.exp(log_probs)
            return taxonomy
        prior = np.maximum(log_probs, LOG_PROB_FLOOR).astype(np.float32)
        inputs = Features(np.asarray(embeddings, np.float32), prior).head_inputs()
        return softmax(inputs.astype(np.float64) @ self.head.weights + self.head.bias)

    def _shadow_labels(
        self,
        shadow: ModelClassifier | None,
        batch: np.ndarray,
        embeddings: np.ndarray,
        log_probs: np.ndarray,
    ) -> list[tuple[str, str] | None]:
        if shadow is None:
            return [None] * len(embeddings)
        if shadow.engine is not self.engine:
            return [(shadow.version, p.label) for p in shadow.predict_batch(batch)]
        scores = shadow._scores(embeddings, log_probs)
        return [(shadow.version, VALID_LABELS[int(i)]) for i in np.argmax(scores, axis=1)]


def _prediction(
    probabilities: np.ndarray,
    embedding: np.ndarray,
    prior: np.ndarray,
    version: str,
    shadow: tuple[str, str] | None,
    *,
    answer_set: list[int],
) -> Prediction:
    order = np.argsort(-probabilities, kind="stable")[:TOP_K]
    return Prediction(
        top3=[(VALID_LABELS[i], float(probabilities[i])) for i in order],
        probabilities=[float(p) for p in probabilities],
        embedding=np.asarray(embedding, dtype=np.float32).copy(),
        model_version=version,
        taxonomy_log_probs=prior.copy(),
        shadow=shadow,
        answer_set=[VALID_LABELS[i] for i in answer_set],
    )
