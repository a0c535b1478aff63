"""Curation: turn people's answers into weighted training examples, and say why each got in.

* **Label and trust.** An admin's answer is trusted outright. Otherwise the answers of all
  users about one photo vote, each weighted by the user's record; trust is the winning share
  of the vote, scaled by the best record among the users who gave that label (linearly from
  no trust at ``record_floor`` to full trust at ``record_good``), raised when several users
  agree, and halved when it contradicts a confident model and comes from a poor record.
  A user's record is the smoothed rate at which their answers agreed with other people's
  answers (an admin's counts alone) on the same photos.
* **Score** (in [0, 1]) = trust x mean(uncertainty, novelty, balance), where uncertainty is
  ``1 - margin`` of the production model's top two probabilities, novelty is the cosine
  distance of the embedding to the nearest photo already held (scaled so 0.4 counts as
  fully new), and balance is ``1 - count(label) / max count`` in the data held so far.
* **Near duplicates** (embedding cosine >= ``duplicate_cosine`` to a held or earlier selected
  photo) are dropped, as are examples with trust under ``min_trust``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from core.labels import LABEL_INDEX
from core.settings import CurationSettings

RECORD_PRIOR = (3.0, 4.0)  # pseudo-counts (agreements, answers) of a newcomer


@dataclass(frozen=True)
class Answer:
    """One person's effective answer about a photo."""

    image_id: str
    user_id: str
    label: str
    is_admin: bool = False
    probabilities: tuple[float, ...] | None = None  # production model's, when it predicted


@dataclass(frozen=True)
class CurationConfig:
    """Thresholds of curation (the two that are settings have their defaults there)."""

    min_trust: float
    duplicate_cosine: float
    confident: float = 0.9  # model probability that counts as confident
    poor_record: float = 0.6  # user record below which contradicting a confident model costs
    record_floor: float = 0.4  # a record this low (or lower) earns no trust at all...
    record_good: float = 0.7  # ...and this high (a newcomer's prior is 0.75) full trust
    contradiction_factor: float = 0.5
    agreement_bonus: float = 0.15  # added trust per extra agreeing user
    novelty_scale: float = 0.4
    weak_trust: float = 0.5  # a photo API query's label (see retraining.weak)...
    weak_agree_trust: float = 0.75  # ...when the production model's top label agrees
    weak_disagree_factor: float = 0.7  # ...times this when the model confidently disagrees

    @classmethod
    def from_settings(cls, section: CurationSettings) -> CurationConfig:
        """Build the thresholds from the ``curation`` settings section."""
        return cls(min_trust=section.min_trust, duplicate_cosine=section.duplicate_cosine)


@dataclass(frozen=True)
class Labelled:
    """A photo's resolved label and how much it is trusted."""

    image_id: str
    label: str
    source: str  # admin, feedback, consensus, weak:unsplash, weak:pexels
    trust: float
    votes: int
    probabilities: tuple[float, ...] | None


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


def user_records(answers: list[Answer]) -> dict[str, float]:
    """Return each user's smoothed agreement with the other people who answered the same photos.

    On a photo an admin answered, agreeing with the admin counts 1; otherwise the share of
    the other users' answers that agree. The prior (3 of 4) trusts newcomers a little.
    """
    by_image: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_image[answer.image_id].append(answer)
    agree: dict[str, float] = defaultdict(float)
    judged: Counter[str] = Counter()
    for group in by_image.values():
        for answer in group:
            others = [a for a in group if a.user_id != answer.user_id]
            if others and not answer.is_admin:
                judged[answer.user_id] += 1
                agree[answer.user_id] += _agreement(answer.label, others)
    users = {a.user_id for a in answers}
    return {user: (agree[user] + RECORD_PRIOR[0]) / (judged[user] + RECORD_PRIOR[1])
            for user in users}  # fmt: skip


def reliabilities(answers: list[Answer]) -> dict[str, float]:
    """Return how reliable each person's answers look (today: their record)."""
    return user_records(answers)


def _agreement(label: str, others: list[Answer]) -> float:
    admins = [a.label for a in others if a.is_admin]
    if admins:
        return float(admins[-1] == label)
    return sum(a.label == label for a in others) / len(others)


def resolve(answers: list[Answer], config: CurationConfig) -> list[Labelled]:
    """Resolve each photo's label and trust from everyone's answers (order of first answer)."""
    records = user_records(answers)
    by_image: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_image[answer.image_id].append(answer)
    return [_resolve_one(group, records, config) for group in by_image.values()]


def _resolve_one(group: list[Answer], records: dict[str, float], cfg: CurationConfig) -> Labelled:
    probabilities = next((a.probabilities for a in group if a.probabilities), None)
    admins = [a for a in group if a.is_admin]
    if admins:
        label = admins[-1].label
        return Labelled(group[0].image_id, label, "admin", 1.0, len(group), probabilities)
    votes: dict[str, float] = defaultdict(float)
    for answer in group:
        votes[answer.label] += records[answer.user_id]
    label = max(votes, key=lambda name: votes[name])
    agreeing = [a for a in group if a.label == label]
    best_record = max(records[a.user_id] for a in agreeing)
    reliability = (best_record - cfg.record_floor) / (cfg.record_good - cfg.record_floor)
    trust = votes[label] / sum(votes.values()) * float(np.clip(reliability, 0.0, 1.0))
    if probabilities is not None and best_record < cfg.poor_record:
        top = int(np.argmax(probabilities))
        if top != LABEL_INDEX[label] and probabilities[top] >= cfg.confident:
            trust *= cfg.contradiction_factor
    trust = min(1.0, trust * (1 + cfg.agreement_bonus * (len(agreeing) - 1)))
    source = "consensus" if len(agreeing) >= 2 else "feedback"
    return Labelled(group[0].image_id, label, source, float(trust), len(group), probabilities)


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
    results = []
    for row, item in enumerate(labelled):
        earlier = among_new[row, :row][taken[:row]]
        nearest = max(float(nearest_held[row]), float(earlier.max()) if earlier.size else 0.0)
        result = _score_one(item, nearest, counts, config)
        if result.selected:
            counts[item.label] += 1
            taken[row] = True
        results.append(result)
    return results


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
