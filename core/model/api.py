"""What every component may rely on when it asks the model for a prediction.

The implementation lives beside this module (backbone, classifier, registry); servers,
workers, the bot and retraining depend only on these types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

EMBEDDING_SIZE = 1280


@dataclass(frozen=True)
class Prediction:
    """One image's prediction by one model version."""

    top3: list[tuple[str, float]]
    probabilities: list[float]  # 16 values, in VALID_LABELS order
    embedding: np.ndarray  # float32, shape (EMBEDDING_SIZE,)
    model_version: str
    # Model v0's 16 log-probabilities (floored) from the same backbone pass: with the
    # embedding, the photo's cached features. None when a classifier cannot give them.
    taxonomy_log_probs: np.ndarray | None = None
    # The staged version's (version, top label) on the same photo: logged, never shown.
    shadow: tuple[str, str] | None = None
    # The labels shown as the answer: the conformal prediction set of the version (at most
    # three, most probable first), or the top label alone when the version has none.
    answer_set: list[str] | None = None

    @property
    def label(self) -> str:
        """The most probable label."""
        return self.top3[0][0]

    @property
    def answer(self) -> list[str]:
        """The labels to show: the answer set, or the top label alone."""
        return self.answer_set or [self.label]


class Classifier(Protocol):
    """A loaded model version that predicts over the 16 labels."""

    version: str

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Predict for RGB images of any size (they are resized inside)."""
