"""Accuracy without labels: estimates from the calibrated top probabilities of predictions.

Two estimators of the accuracy of a batch of predictions, each a mean over the batch:

* ``cbpe`` (confidence-based performance estimation): the mean calibrated top probability.
  When the probabilities are calibrated on the photos that arrive, a prediction with top
  probability p is right with probability p, so the mean is the expected accuracy.
* ``atc`` (average thresholded confidence, Garg et al. 2022): the share of predictions whose
  top probability is at least the version's threshold t, fitted on the held-out test set so
  that this share equals the test accuracy there (``core.model.calibration``). It needs only
  that the ranking of confidences carries over to new photos, not their values.

Both hold while new photos resemble the test set. Photos of a kind the model never learned,
on which it is confidently wrong, move neither estimator: they are blind to such a shift and
only the answers (or the embedding drift rule) can see it.

Each estimate comes with a percentile bootstrap interval of the batch mean (resamples of the
batch, seeded, so the same batch always gets the same interval). It measures how far the
batch's estimate may stray from the stream's expected accuracy by chance, not the error of
the calibration itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
_CHUNK = 1 << 21  # indices drawn at once, so a long window never needs a huge matrix


@dataclass(frozen=True)
class Estimate:
    """An estimated accuracy with its bootstrap interval, over ``predictions`` predictions."""

    value: float
    low: float
    high: float
    predictions: int


@dataclass(frozen=True)
class LabelFree:
    """Both estimates over one batch; ``atc`` is None without a fitted threshold."""

    cbpe: Estimate
    atc: Estimate | None
    threshold: float | None


def mean_with_interval(
    values: np.ndarray, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED
) -> Estimate:
    """Return the mean of ``values`` and its percentile bootstrap interval at ``level``."""
    x = np.asarray(values, np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("no values to estimate from")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    rows = max(1, _CHUNK // n)
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        means[start : start + count] = x[rng.integers(0, n, size=(count, n))].mean(axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Estimate(float(x.mean()), float(low), float(high), n)


def cbpe(
    top: np.ndarray, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED
) -> Estimate:
    """Estimate accuracy as the mean calibrated top probability."""
    return mean_with_interval(top, resamples=resamples, level=level, seed=seed)


def atc(
    top: np.ndarray,
    threshold: float,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> Estimate:
    """Estimate accuracy as the share of top probabilities at or above ``threshold``."""
    hits = (np.asarray(top, np.float64) >= threshold).astype(np.float64)
    return mean_with_interval(hits, resamples=resamples, level=level, seed=seed)


def estimate(
    top: np.ndarray, threshold: float | None, *, resamples: int = RESAMPLES, seed: int = SEED
) -> LabelFree | None:
    """Return both estimates over a batch of top probabilities (None for an empty batch).

    Both draw the same resamples (same seed, same size), so their intervals are paired.
    """
    if len(top) == 0:
        return None
    first = cbpe(top, resamples=resamples, seed=seed)
    second = None if threshold is None else atc(top, threshold, resamples=resamples, seed=seed)
    return LabelFree(first, second, threshold)
