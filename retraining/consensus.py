"""Each photo's label and trust from everyone's answers, through the annotator model.

All answers ever given (people's, and the production model's top label on every photo it
served, as one more annotator) go through ``core.annotators.estimate``: each person gets a
confusion matrix and a reliability, each photo a posterior over the labels. Then:

* a photo an admin answered takes the admin's label, trust 1 (source ``admin``);
* otherwise its label is the posterior's most probable one and its trust that probability;
  the source says who stands behind it: ``trusted`` when at least two independent
  established people gave it (``established``: not anonymous, reliability at least
  ``established_reliability`` over at least ``established_answers`` answers), ``consensus``
  when two or more people did, ``feedback`` when one did, ``model`` when nobody did (the
  estimate read it from the model and from what the answers' authors usually mean).

Only ``admin`` and ``trusted`` labels may enter the held-out test set (``datasets.may_judge``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from core.annotators import ADMIN, ANONYMOUS, KNOWN, MODEL, Answers, Estimate, estimate
from core.labels import LABEL_INDEX, VALID_LABELS
from core.people import is_anonymous
from retraining.curation import Answer, CurationConfig, Labelled

MODEL_ID = "model:production"  # the annotator that answers with the served top label


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

    def established(self, config: CurationConfig) -> set[str]:
        """Return the people whose answers are trusted enough to judge models."""
        found = self.estimate
        return {
            who
            for who, value, count in zip(
                self.annotators, found.reliability, found.answered, strict=True
            )
            if who != MODEL_ID
            and not is_anonymous(who)
            and value >= config.established_reliability
            and count >= config.established_answers
        }


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


def resolve(answers: list[Answer], config: CurationConfig) -> list[Labelled]:
    """Resolve each photo's label and trust from everyone's answers (order of first answer)."""
    if not answers:
        return []
    people = people_of(answers)
    established = people.established(config)
    by_image: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_image[answer.image_id].append(answer)
    posterior = people.estimate.posterior
    return [
        _resolve_one(by_image[image], posterior[row], established)
        for row, image in enumerate(people.images)
    ]


def _resolve_one(group: list[Answer], posterior: np.ndarray, established: set[str]) -> Labelled:
    image_id = group[0].image_id
    probabilities = next((a.probabilities for a in group if a.probabilities), None)
    admins = [a for a in group if a.is_admin]
    if admins:
        label = admins[-1].label
        return Labelled(image_id, label, "admin", 1.0, len(group), probabilities)
    top = int(np.argmax(posterior))
    label = VALID_LABELS[top]
    behind = tuple(dict.fromkeys(a.user_id for a in group if a.label == label))
    if sum(who in established for who in behind) >= 2:
        source = "trusted"
    elif behind:
        source = "consensus" if len(behind) >= 2 else "feedback"
    else:
        source = "model"
    trust = float(posterior[top])
    return Labelled(image_id, label, source, trust, len(group), probabilities, behind)
