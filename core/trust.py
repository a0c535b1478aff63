"""Who answered and how far they are trusted: everyone's answers through the annotator model.

Every answer that counts (``core.warehouse.records``), with the production model's top label
on each photo it served as one more annotator (``MODEL_ID``), goes through
``core.annotators.estimate``. The retraining round resolves labels from it
(``retraining.consensus``); the bot's /stats, the web status view and
``creature-vis people`` show from it how many answers of the last week were trusted,
down-weighted and refused, and who is least reliable. An answer is **trusted** when the
posterior gives its label at least ``min_test_trust`` and its author is not anonymous (or
an admin gave it), **down-weighted** when at least ``min_trust`` (an anonymous answer is at
most that), and **refused** (not learnt from) below that.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.annotators import ADMIN, ANONYMOUS, KNOWN, MODEL, Answers, Estimate, estimate
from core.labels import LABEL_INDEX, VALID_LABELS
from core.people import is_anonymous
from core.settings import CurationSettings
from core.warehouse import Warehouse
from core.warehouse.records import ANSWERS_THAT_COUNT, answer_params

ANSWERS_SQL = f"""
SELECT f.user_id, f.label, f.is_admin, f.is_correct, f.model_version, f.created_at,
       i.image_id, i.probabilities_json
FROM {ANSWERS_THAT_COUNT} AS f JOIN interactions AS i ON i.interaction_id = f.interaction_id
"""  # noqa: S608  (constants)
WEEK = dt.timedelta(days=7)
MODEL_ID = "model:production"  # the annotator that answers with the served top label

LABEL_PRECISION = 0.5  # a label an established person vouches for is right more often than not


@dataclass(frozen=True)
class Answer:
    """One person's effective answer about a photo."""

    image_id: str
    user_id: str
    label: str
    is_admin: bool = False
    probabilities: tuple[float, ...] | None = None  # production model's, when it predicted


def answer_rows(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Return each person's effective answer with its photo, oldest first."""
    rows = warehouse.query(ANSWERS_SQL, answer_params())
    return sorted(rows, key=lambda row: (row["created_at"], row["image_id"], row["user_id"]))


def to_answers(rows: list[dict[str, Any]]) -> list[Answer]:
    """Turn answer rows into answers."""
    return [
        Answer(
            image_id=str(row["image_id"]),
            user_id=str(row["user_id"]),
            label=str(row["label"]),
            is_admin=bool(row["is_admin"]),
            probabilities=tuple(json.loads(row["probabilities_json"]))
            if row["probabilities_json"]
            else None,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class People:
    """The estimate, with the photo and annotator each row of it stands for."""

    estimate: Estimate
    images: list[str]
    annotators: list[str]

    def reliability(self) -> dict[str, float]:
        """Return each person's reliability (the model annotator left out)."""
        return {
            who: float(value)
            for who, value in zip(self.annotators, self.estimate.reliability, strict=True)
            if who != MODEL_ID
        }

    def least_reliable(self, limit: int) -> list[tuple[str, float, int]]:
        """Return up to ``limit`` people, least reliable first, with their answer counts."""
        found = self.estimate
        order = np.argsort(found.reliability, kind="stable")
        return [
            (self.annotators[i], round(float(found.reliability[i]), 4), int(found.answered[i]))
            for i in order
            if self.annotators[i] != MODEL_ID
        ][:limit]

    def established(self, config: Any) -> set[tuple[str, int]]:
        """Return the (person, label) pairs trusted enough to judge models.

        A person is established when not anonymous, with at least ``established_answers``
        answers and a reliability of at least ``established_reliability``; and then for each
        label whose answers of theirs are more likely right than wrong (``precision`` at
        least ``LABEL_PRECISION``): a lion<->tiger swapper right on nearly everything else
        vouches for neither lion nor tiger. (The bar is not the reliability itself: an honest
        person's precision scatters around their reliability from label to label.)
        """
        found = self.estimate
        precision = self.precision()
        return {
            (who, int(label))
            for row, (who, value, count) in enumerate(
                zip(self.annotators, found.reliability, found.answered, strict=True)
            )
            if who != MODEL_ID
            and not is_anonymous(who)
            and value >= config.established_reliability
            and count >= config.established_answers
            for label in np.flatnonzero(precision[row] >= LABEL_PRECISION)
        }

    def precision(self) -> np.ndarray:
        """P(a photo shows label l | the annotator answered l), per annotator and label.

        From their confusion matrix by Bayes' rule with every label equally likely, so that
        a rare label is not held against the people who name it: for someone right with
        probability a and otherwise any label alike, it is a on every label.
        """
        confusion = self.estimate.confusion  # (annotators, true, answered)
        answered = confusion.sum(axis=1)
        diagonal = np.diagonal(confusion, axis1=1, axis2=2)
        result: np.ndarray = np.divide(
            diagonal, answered, out=np.zeros_like(diagonal), where=answered > 0
        )
        return result


def people_of(answers: list[Answer]) -> People:
    """Estimate every annotator's reliability and every photo's posterior."""
    images = list(dict.fromkeys(a.image_id for a in answers))
    image_row = {image: row for row, image in enumerate(images)}
    annotators = list(dict.fromkeys(a.user_id for a in answers))
    admins = {a.user_id for a in answers if a.is_admin}
    rows = [(image_row[a.image_id], a.user_id, LABEL_INDEX[a.label]) for a in answers]
    served = {a.image_id: a.probabilities for a in answers if a.probabilities}
    if served:
        annotators.append(MODEL_ID)
        rows += [(image_row[image], MODEL_ID, int(np.argmax(p))) for image, p in served.items()]
    index = {who: column for column, who in enumerate(annotators)}
    kinds = [_kind(who, admins) for who in annotators]
    table = np.asarray([(row, index[who], label) for row, who, label in rows], np.int64)
    table = table.reshape(-1, 3)
    found = estimate(
        Answers(
            table[:, 0],
            table[:, 1],
            table[:, 2],
            np.asarray(kinds, np.int64),
            len(images),
            len(VALID_LABELS),
        )
    )
    return People(found, images, annotators)


def _kind(who: str, admins: set[str]) -> int:
    if who == MODEL_ID:
        return MODEL
    if who in admins:
        return ADMIN
    return ANONYMOUS if is_anonymous(who) else KNOWN


def reliabilities(answers: list[Answer]) -> dict[str, float]:
    """Return how reliable each person's answers look (the annotator model's estimate)."""
    return people_of(answers).reliability() if answers else {}


@dataclass(frozen=True)
class WeekCounts:
    """How the last week's answers fared in the estimate."""

    trusted: int
    down_weighted: int
    refused: int


def week_counts(
    rows: list[dict[str, Any]], people: People, section: CurationSettings, now: dt.datetime
) -> WeekCounts:
    """Count the answers of the week before ``now`` by how far their label is believed."""
    row_of = {image: row for row, image in enumerate(people.images)}
    counts = {"trusted": 0, "down_weighted": 0, "refused": 0}
    for row in rows:
        if row["created_at"] < now - WEEK:
            continue
        image, label = row_of[str(row["image_id"])], LABEL_INDEX[str(row["label"])]
        belief = float(people.estimate.posterior[image, label])
        known = not is_anonymous(str(row["user_id"]))
        if row["is_admin"] or (known and belief >= section.min_test_trust):
            counts["trusted"] += 1
        elif belief >= section.min_trust:
            counts["down_weighted"] += 1
        else:
            counts["refused"] += 1
    return WeekCounts(**counts)


@dataclass(frozen=True)
class Report:
    """The trust figures shown to people: the week's answers and the least reliable people."""

    week: WeekCounts
    least_reliable: list[tuple[str, float, int]]  # (person, reliability, answers)


def trust_report(
    warehouse: Warehouse, section: CurationSettings, now: dt.datetime, limit: int = 10
) -> Report:
    """Estimate everyone from all answers; return the week's counts and the least reliable."""
    rows = answer_rows(warehouse)
    if not rows:
        return Report(WeekCounts(0, 0, 0), [])
    people = people_of(to_answers(rows))
    return Report(week_counts(rows, people, section, now), people.least_reliable(limit))
