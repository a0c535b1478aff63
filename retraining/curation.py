"""Curation: turn people's answers into weighted training examples, and say why each got in.

* **Label and trust** come from the annotator model (``retraining.consensus``): the label is
  the posterior's, the trust its probability; an admin's answer is trusted outright.
* **Score** (in [0, 1]) = trust x mean(uncertainty, novelty, balance), where uncertainty is
  ``1 - margin`` of the production model's top two probabilities, novelty is the cosine
  distance of the embedding to the nearest photo already held (scaled so 0.4 counts as
  fully new), and balance is ``1 - count(label) / max count`` in the data held so far.
* **Near duplicates** (embedding cosine >= ``duplicate_cosine`` to a held or earlier selected
  photo) are dropped, as are examples with trust under ``min_trust`` and those whose label
  no person gave (the estimate read it from the model and from what the answers' authors
  usually mean: training on it would teach the model its own reading).
* **Caps.** A dataset version takes at most ``max_per_person`` examples from one person and
  ``max_anonymous`` from all anonymous sessions together: an example counts against everyone
  who gave its label and is dropped once all of them are at their cap, so a burst from one
  source cannot dominate a version.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from core.people import is_anonymous
from core.settings import CurationSettings

ANONYMOUS = "anonymous"  # the one cap every anonymous session shares


@dataclass(frozen=True)
class CurationConfig:
    """Thresholds of curation (those that are settings have their defaults there)."""

    min_trust: float
    duplicate_cosine: float
    max_per_person: int
    max_anonymous: int
    established_reliability: float  # a person trusted enough to judge models...
    established_answers: int  # ...over this many answers at least
    confident: float = 0.9  # model probability that counts as confident
    novelty_scale: float = 0.4
    weak_trust: float = 0.5  # a photo API query's label (see retraining.weak)...
    weak_agree_trust: float = 0.75  # ...when the production model's top label agrees
    weak_disagree_factor: float = 0.7  # ...times this when the model confidently disagrees

    @classmethod
    def from_settings(cls, section: CurationSettings) -> CurationConfig:
        """Build the thresholds from the ``curation`` settings section."""
        return cls(
            min_trust=section.min_trust,
            duplicate_cosine=section.duplicate_cosine,
            established_reliability=section.established_reliability,
            established_answers=section.established_answers,
            max_per_person=section.max_per_person,
            max_anonymous=section.max_anonymous,
        )


@dataclass(frozen=True)
class Labelled:
    """A photo's resolved label and how much it is trusted."""

    image_id: str
    label: str
    source: str  # admin, trusted, consensus, feedback, model, weak:unsplash, weak:pexels
    trust: float
    votes: int
    probabilities: tuple[float, ...] | None
    people: tuple[str, ...] = ()  # who gave the label (admins and weak labels: nobody)


@dataclass(frozen=True)
class Selection:
    """The curation outcome for one photo, with the parts of its score."""

    image_id: str
    label: str
    source: str
    trust: float
    selected: bool
    reason: str
    parts: dict[str, float] = field(default_factory=dict)
    score: float = 0.0


def uncertainty(probabilities: tuple[float, ...] | None) -> float:
    """Return ``1 - (p1 - p2)`` of a prediction (0.5 when the model never saw the photo)."""
    if probabilities is None:
        return 0.5
    top = np.sort(np.asarray(probabilities))[::-1]
    return float(1.0 - (top[0] - top[1]))


def select(
    labelled: list[Labelled],
    embeddings: np.ndarray,
    held_embeddings: np.ndarray,
    held_counts: dict[str, int],
    config: CurationConfig,
) -> list[Selection]:
    """Score every labelled photo and decide whether it enters the next dataset version."""
    unit = _normalise(embeddings)
    nearest_held = _nearest(unit, _normalise(held_embeddings))
    among_new = unit @ unit.T
    taken = np.zeros(len(labelled), bool)
    counts = Counter(held_counts)
    given: Counter[str] = Counter()
    results = []
    for row, item in enumerate(labelled):
        earlier = among_new[row, :row][taken[:row]]
        nearest = max(float(nearest_held[row]), float(earlier.max()) if earlier.size else 0.0)
        result = _score_one(item, nearest, counts, config)
        sources = {ANONYMOUS if is_anonymous(who) else who for who in item.people}
        if result.selected and sources and all(given[s] >= _cap(s, config) for s in sources):
            result = replace(
                result, selected=False, reason=f"person cap ({', '.join(sorted(sources))})"
            )
        if result.selected:
            counts[item.label] += 1
            given.update(sources)
            taken[row] = True
        results.append(result)
    return results


def _cap(source: str, config: CurationConfig) -> int:
    return config.max_anonymous if source == ANONYMOUS else config.max_per_person


def _nearest(unit: np.ndarray, held: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Return each row's highest cosine to any held photo (0 when nothing is held)."""
    best = np.zeros(len(unit), np.float32)
    for start in range(0, len(held), chunk):
        part = (unit @ held[start : start + chunk].T).max(axis=1)
        best = np.maximum(best, part)
    return best


def _score_one(
    item: Labelled, nearest: float, counts: Counter[str], config: CurationConfig
) -> Selection:
    largest = max(counts.values(), default=0)
    parts = {
        "uncertainty": uncertainty(item.probabilities),
        "novelty": float(np.clip((1.0 - nearest) / config.novelty_scale, 0.0, 1.0)),
        "balance": 1.0 - counts[item.label] / largest if largest else 1.0,
        "trust": item.trust,
        "nearest_cosine": nearest,
    }
    score = item.trust * (parts["uncertainty"] + parts["novelty"] + parts["balance"]) / 3
    if nearest >= config.duplicate_cosine:
        selected, reason = False, f"near duplicate (cosine {nearest:.3f})"
    elif item.trust < config.min_trust:
        selected, reason = False, f"trust {item.trust:.2f} under {config.min_trust}"
    elif item.source == "model":  # the model would only learn its own reading back
        selected, reason = False, "no person gave the label"
    else:
        selected, reason = True, f"{item.source} label, score {score:.3f}"
    return Selection(
        item.image_id, item.label, item.source, item.trust, selected, reason, parts, score
    )


def _normalise(embeddings: np.ndarray) -> np.ndarray:
    matrix = np.asarray(embeddings, np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: np.ndarray = matrix / norms
    return result
