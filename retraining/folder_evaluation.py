"""Scoring a classifier on a folder of labelled photos (``<label>/<photo>``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ImageRejected
from core.labels import LABEL_INDEX, VALID_LABELS
from core.model.calibration import Calibration, report
from core.model.classifier import ModelClassifier
from core.model.metrics import Scores, score
from core.model.preprocess import bytes_to_input

log = logging.getLogger(__name__)
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})


@dataclass(frozen=True)
class Evaluation:
    """Scores plus what was predicted for each photo."""

    scores: Scores
    model_version: str
    paths: list[Path]
    truth: list[str]
    predicted: list[str]
    skipped: list[Path]
    raw_probabilities: np.ndarray  # float64 (N, 16), before the version's calibration
    calibration: Calibration | None

    def to_json(self) -> dict[str, Any]:
        """Scores, calibration (ECE, NLL raw and calibrated) and answer-set figures."""
        truth = np.asarray([LABEL_INDEX[label] for label in self.truth], np.int64)
        return {**self.scores.to_json(self.model_version),
                **report(self.raw_probabilities, truth, self.calibration)}  # fmt: skip


def labelled_photos(folder: Path) -> list[tuple[Path, str]]:
    """Return ``(photo, label)`` for every photo under ``folder/<label>/``, sorted."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a directory")
    found = []
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name in LABEL_INDEX:
            found += [
                (path, child.name)
                for path in sorted(child.iterdir())
                if path.suffix.lower() in PHOTO_SUFFIXES
            ]
        elif child.is_dir():
            log.warning("ignoring %s: not one of the labels %s", child, ", ".join(VALID_LABELS))
    return found


def evaluate_folder(classifier: ModelClassifier, folder: Path, batch_size: int = 32) -> Evaluation:
    """Predict every photo under ``folder`` and score the predictions."""
    items = labelled_photos(folder)
    paths: list[Path] = []
    truth: list[str] = []
    skipped: list[Path] = []
    raw = [np.zeros((0, len(VALID_LABELS)))]
    for chunk, inputs in _decoded_batches(items, batch_size, skipped):
        raw.append(classifier.raw_probabilities(inputs))
        paths += [path for path, _ in chunk]
        truth += [label for _, label in chunk]
    probabilities = np.concatenate(raw)
    predicted = [VALID_LABELS[int(i)] for i in probabilities.argmax(axis=1)]
    return Evaluation(score(truth, predicted), classifier.version, paths, truth, predicted,
                      skipped, probabilities, classifier.calibration)  # fmt: skip


def _decoded_batches(
    items: list[tuple[Path, str]], batch_size: int, skipped: list[Path]
) -> Iterator[tuple[list[tuple[Path, str]], np.ndarray]]:
    """Decode on a thread pool (Pillow releases the GIL) while batches are predicted."""
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        decoded = pool.map(_decode, [path for path, _ in items])
        chunk: list[tuple[Path, str]] = []
        arrays: list[np.ndarray] = []
        for item, array in zip(items, decoded, strict=True):
            if array is None:
                skipped.append(item[0])
                continue
            chunk.append(item)
            arrays.append(array)
            if len(chunk) == batch_size:
                yield chunk, np.stack(arrays)
                chunk, arrays = [], []
        if chunk:
            yield chunk, np.stack(arrays)


def _decode(path: Path) -> np.ndarray | None:
    try:
        return bytes_to_input(path.read_bytes())
    except (OSError, ImageRejected) as exc:
        log.warning("skipping %s: %s", path, exc)
        return None
