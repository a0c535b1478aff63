"""A tiny deterministic classifier for worker tests, with switchable misbehaviour.

It predicts from a photo's mean colour, so results are known in advance. Tests steer it
through ``<data_dir>/colour-classifier.json`` (the worker runs in another process):

* ``hold_seconds`` and ``hold_once``: the first predict call (or every one) writes a marker
  file ``<data_dir>/holding/<pid>`` and sleeps, so a test can kill the process mid-task;
* ``kill_on_red``: a mostly red photo makes the process SIGKILL itself (a poison message).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.labels import VALID_LABELS
from core.model.api import EMBEDDING_SIZE, Prediction
from core.settings import Settings
from core.storage import ImageStore

VERSION = "test-colour"
CONFIG_NAME = "colour-classifier.json"
# What a worker's --classifier option takes to load this classifier.
TEST_CLASSIFIER = "tests.fakes.colour_classifier:build"


def label_for(rgb: tuple[int, int, int]) -> str:
    """Return the label the classifier gives a solid colour."""
    return VALID_LABELS[sum(rgb) % len(VALID_LABELS)]


class ColourClassifier:
    """Predicts ``label_for(mean colour)`` with probability 0.9."""

    version = VERSION

    def __init__(self, data_dir: Path, config: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.config = config

    def predict_inputs(self, batch: np.ndarray) -> list[Prediction]:
        return [self._one(array) for array in batch]

    def _one(self, pixels: np.ndarray) -> Prediction:
        mean = np.asarray(pixels, dtype=np.float64).mean(axis=(0, 1))
        r, g, b = (round(float(v)) for v in mean)
        rgb = (r, g, b)
        if self.config.get("kill_on_red") and rgb[0] > 200 and rgb[1] < 50 and rgb[2] < 50:
            os.kill(os.getpid(), signal.SIGKILL)
        self._maybe_hold()
        label = label_for(rgb)
        probabilities = [0.1 / (len(VALID_LABELS) - 1)] * len(VALID_LABELS)
        probabilities[VALID_LABELS.index(label)] = 0.9
        order = sorted(range(len(VALID_LABELS)), key=lambda i: -probabilities[i])[:3]
        return Prediction(
            top3=[(VALID_LABELS[i], probabilities[i]) for i in order],
            probabilities=probabilities,
            embedding=np.zeros(EMBEDDING_SIZE, np.float32),
            model_version=VERSION,
        )

    def _maybe_hold(self) -> None:
        seconds = float(self.config.get("hold_seconds", 0))
        if seconds <= 0:
            return
        holding = self.data_dir / "holding"
        holding.mkdir(exist_ok=True)
        if self.config.get("hold_once"):
            try:  # only the first caller, across processes, holds
                os.close(os.open(holding / "taken", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
        (holding / str(os.getpid())).write_text(str(time.time()))
        time.sleep(seconds)


def build(settings: Settings, store: ImageStore) -> ColourClassifier:
    """Factory for ``python -m workers worker --classifier`` with :data:`TEST_CLASSIFIER`."""
    path = settings.data_dir / CONFIG_NAME
    config = json.loads(path.read_text()) if path.is_file() else {}
    return ColourClassifier(settings.data_dir, config)


def solid_png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """Return a PNG of one colour."""
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buffer, format="PNG")
    return buffer.getvalue()
