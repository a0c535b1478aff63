"""Calibrated probabilities and answer sets, fitted on a version's held-out test set.

A version's raw probabilities are usually over-confident (a head trained on a few hundred
photos) or under-confident (model v0 spreads mass over ImageNet classes). Three figures are
fitted per version on the held-out test set of the round that evaluated it, and stored with it
(``ModelRegistry.calibrate``):

* ``temperature`` T: served probabilities are ``softmax(log p / T)``, with T chosen to minimise
  the negative log-likelihood of the true labels (Guo et al. 2017). The NLL is convex in 1/T,
  so a bracketed golden-section search finds it. The top label never changes.
* ``set_threshold``: split-conformal prediction sets with the randomised APS score (Romano,
  Sesia and Candes 2020): labels are taken most probable first, and a photo's score is the
  mass ranked above its true label plus ``u`` times the true label's own, ``u`` uniform. With
  n test photos the scores' ``ceil((n + 1) * coverage)``-th smallest value q makes the set of
  labels scoring at most q hold the true label with probability at least ``coverage`` on a
  new photo from the same stream. APS was chosen over the smaller "least ambiguous" sets
  (``p >= 1 - q``): when the model is about as accurate as the target, those are nearly
  always one label and a one-label answer is then no more often right than the model, while
  APS adds a second label exactly where the top one is not sure. ``u`` comes from a hash of
  the photo's probabilities, so the same photo always gets the same answer. Sets always hold
  the top label (only adding coverage) and at most ``MAX_SET`` labels (which can lower it);
  ``evaluate`` measures what is actually shown.
* ``confidence_threshold`` t for ATC (Garg et al. 2022): the share of test photos whose
  calibrated top probability is under t equals the test error rate, so the share of new photos
  at or above t estimates accuracy without labels.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MAX_SET = 3
ECE_BINS = 15
_MIN_PHOTOS = 20  # below this, no set threshold: a 0.95 quantile needs at least 19 scores
_EPS = 1e-12
_FLOOR = math.exp(-30.0)
_EVERY_LABEL = 2.0  # above every APS score (they are at most 1)


@dataclass(frozen=True)
class Calibration:
    """What a version serves with: its temperature and its two thresholds."""

    temperature: float
    set_threshold: float | None  # None: too few test photos for sets, show the top label
    confidence_threshold: float
    coverage: float
    photos: int
    test_version: str | None = None

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities of raw ones, ``(N, 16)``."""
        return with_temperature(probabilities, self.temperature)

    def answer_sets(self, calibrated: np.ndarray) -> list[list[int]]:
        """Return each row's answer set (label indices, most probable first)."""
        return answer_sets(calibrated, self.set_threshold)

    def to_json(self) -> dict[str, Any]:
        """Return the stored form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Calibration:
        """Read the stored form; raise ValueError when it does not fit."""
        if not isinstance(data, dict):
            raise ValueError("calibration must be an object")
        try:
            calibration = cls(**data)
        except TypeError as exc:
            raise ValueError(f"bad calibration: {exc}") from exc
        numbers = [calibration.temperature, calibration.confidence_threshold, calibration.coverage]
        if calibration.set_threshold is not None:
            numbers.append(calibration.set_threshold)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
            raise ValueError("calibration figures must be finite numbers")
        if calibration.temperature <= 0:
            raise ValueError("temperature must be positive")
        return calibration


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Return ``softmax(log p / T)`` row by row (a label with p = 0 stays at 0)."""
    p = np.asarray(probabilities, dtype=np.float64)
    with np.errstate(divide="ignore"):
        scores = np.log(p) / temperature
    peak = scores.max(axis=1, keepdims=True)
    shifted = np.exp(scores - peak)
    result: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def served(probabilities: np.ndarray, calibration: Calibration | None) -> np.ndarray:
    """Return raw probabilities as a version serves them (unchanged when uncalibrated)."""
    return probabilities if calibration is None else calibration.apply(probabilities)


def nll(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels (probabilities floored at 1e-12)."""
    if len(truth) == 0:
        return float("nan")
    p = np.asarray(probabilities, np.float64)[np.arange(len(truth)), truth]
    return float(-np.mean(np.log(np.maximum(p, _EPS))))


def ece(probabilities: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top probability, in equal-width bins."""
    if len(truth) == 0:
        return float("nan")
    p = np.asarray(probabilities, np.float64)
    confidence = p.max(axis=1)
    right = (p.argmax(axis=1) == truth).astype(np.float64)
    # Bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 joins bin 0.
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.sum() * abs(right[members].mean() - confidence[members].mean())
    return float(total / len(truth))


def fit_temperature(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Return the temperature in [0.05, 20] that minimises the NLL of the true labels."""
    if len(truth) == 0:
        return 1.0
    # A label the version gives no probability at all (model v0 has no giraffe) counts as
    # e^-30, the floor of the head's inputs, so such photos still pull T up and not to infinity.
    logs = np.log(np.maximum(np.asarray(probabilities, np.float64), _FLOOR))
    rows = np.arange(len(truth))

    def loss(inverse: float) -> float:  # NLL at temperature 1 / inverse: convex in inverse
        scores = logs * inverse
        peak = scores.max(axis=1)
        total = np.log(np.exp(scores - peak[:, None]).sum(axis=1)) + peak
        return float(np.mean(total - scores[rows, truth]))

    low, high = 1 / 20, 1 / 0.05
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = loss(a), loss(b)
    for _ in range(80):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = loss(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = loss(b)
    return float(1 / ((low + high) / 2))


def set_threshold(calibrated: np.ndarray, truth: np.ndarray, coverage: float) -> float | None:
    """Return the split-conformal threshold q of the APS scores (None: too few photos)."""
    n = len(truth)
    if n < _MIN_PHOTOS:
        return None
    scores = np.sort(aps_scores(calibrated, truth))
    rank = math.ceil((n + 1) * coverage)
    if rank > n:
        return _EVERY_LABEL  # the target needs more photos than there are: the largest sets
    return float(scores[rank - 1])


def aps_scores(calibrated: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each photo's APS score: the mass ranked above its true label plus ``u`` times its own."""
    p = np.asarray(calibrated, np.float64)
    order = np.argsort(-p, axis=1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=1)
    before = ranked.cumsum(axis=1) - ranked
    rank = np.argmax(order == np.asarray(truth)[:, None], axis=1)
    rows = np.arange(len(p))
    scores: np.ndarray = before[rows, rank] + _draws(p) * ranked[rows, rank]
    return scores


def answer_sets(
    calibrated: np.ndarray, threshold: float | None, max_labels: int = MAX_SET
) -> list[list[int]]:
    """Return each row's answer set (label indices, most probable first).

    The labels whose APS score would be at most ``threshold``, and always the top label (an
    empty set is never shown; that only adds coverage), at most ``max_labels`` of them.
    Without a threshold the set is the top label alone.
    """
    p = np.asarray(calibrated, np.float64)
    order = np.argsort(-p, axis=1, kind="stable")[:, :max_labels]
    if threshold is None:
        return [[int(ranked[0])] for ranked in order]
    mass = np.take_along_axis(p, order, axis=1)
    scores = mass.cumsum(axis=1) - mass + _draws(p)[:, None] * mass
    inside = scores <= threshold
    inside[:, 0] = True
    return [[int(i) for i in ranked[keep]] for ranked, keep in zip(order, inside, strict=True)]


def _draws(p: np.ndarray) -> np.ndarray:
    """Return APS's uniform draw per photo, taken from a hash of its probabilities.

    So a photo sent again gets the same answer, and different photos' draws are independent.
    """
    rounded = np.round(p, 6)
    return np.asarray([int.from_bytes(hashlib.sha256(row.tobytes()).digest()[:8], "big") / 2**64
                       for row in rounded])  # fmt: skip


def confidence_threshold(calibrated: np.ndarray, truth: np.ndarray) -> float:
    """Return ATC's t: the share of test photos with top probability under t is the error rate."""
    if len(truth) == 0:
        return 0.0
    p = np.asarray(calibrated, np.float64)
    confidence = np.sort(p.max(axis=1))
    errors = int(np.sum(p.argmax(axis=1) != truth))
    if errors == 0:
        return float(confidence[0])
    if errors == len(truth):
        return float(np.nextafter(confidence[-1], np.inf))
    return float((confidence[errors - 1] + confidence[errors]) / 2)


def fit(
    probabilities: np.ndarray, truth: np.ndarray, coverage: float, test_version: str | None = None
) -> Calibration:
    """Fit a version's calibration on its raw test-set probabilities and true label indices."""
    truth = np.asarray(truth, np.int64)
    temperature = fit_temperature(probabilities, truth)
    calibrated = with_temperature(probabilities, temperature)
    return Calibration(
        temperature=round(temperature, 6),
        set_threshold=set_threshold(calibrated, truth, coverage),
        confidence_threshold=confidence_threshold(calibrated, truth),
        coverage=coverage,
        photos=len(truth),
        test_version=test_version,
    )


def report(
    probabilities: np.ndarray, truth: np.ndarray, calibration: Calibration | None
) -> dict[str, Any]:
    """Return the figures ``evaluate --json`` adds: ECE, NLL (raw and calibrated), sets."""
    truth = np.asarray(truth, np.int64)
    calibrated = served(probabilities, calibration)
    result: dict[str, Any] = {
        "temperature": None if calibration is None else calibration.temperature,
        "ece": {"raw": ece(probabilities, truth), "calibrated": ece(calibrated, truth)},
        "nll": {"raw": nll(probabilities, truth), "calibrated": nll(calibrated, truth)},
        "conformal": None,
    }
    if calibration is not None and calibration.set_threshold is not None:
        sets = calibration.answer_sets(calibrated)
        result["conformal"] = {"target": calibration.coverage, "max_labels": MAX_SET,
                               **set_figures(sets, truth)}  # fmt: skip
    return result


def set_figures(sets: list[list[int]], truth: np.ndarray) -> dict[str, float | None]:
    """Coverage, mean size, share of one-label sets and how often those are right."""
    if not sets:
        return {"coverage": None, "mean_set_size": None, "singleton_share": None,
                "singleton_accuracy": None}  # fmt: skip
    covered = [int(t) in s for s, t in zip(sets, truth, strict=True)]
    singletons = [c for s, c in zip(sets, covered, strict=True) if len(s) == 1]
    return {
        "coverage": float(np.mean(covered)),
        "mean_set_size": float(np.mean([len(s) for s in sets])),
        "singleton_share": len(singletons) / len(sets),
        "singleton_accuracy": float(np.mean(singletons)) if singletons else None,
    }
