"""Each photo's label and trust from everyone's answers, through the annotator model.

All answers ever given (people's, and the production model's top label on every photo it
served, as one more annotator) go through ``core.annotators.estimate``: each person gets a
confusion matrix and a reliability, each photo a posterior over the labels. Then:

* a photo an admin answered takes the admin's label, trust 1 (source ``admin``);
* otherwise its label is the posterior's most probable one and its trust that probability;
  the source says who stands behind it: ``trusted`` when at least two independent
  established people gave it (``established``: not anonymous, reliability at least
  ``established_reliability`` over at least ``established_answers`` answers, and their
  answers of that label right that often too), ``consensus``
  when two or more people did, ``feedback`` when one did, ``model`` when nobody did (the
  estimate read it from the model and from what the answers' authors usually mean).

Only ``admin`` and ``trusted`` labels may enter the held-out test set (``datasets.may_judge``).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from core.labels import VALID_LABELS
from core.trust import Answer, people_of
from retraining.curation import CurationConfig, Labelled


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


def _resolve_one(
    group: list[Answer], posterior: np.ndarray, established: set[tuple[str, int]]
) -> Labelled:
    image_id = group[0].image_id
    probabilities = next((a.probabilities for a in group if a.probabilities), None)
    admins = [a for a in group if a.is_admin]
    if admins:
        label = admins[-1].label
        return Labelled(image_id, label, "admin", 1.0, len(group), probabilities)
    top = int(np.argmax(posterior))
    label = VALID_LABELS[top]
    behind = tuple(dict.fromkeys(a.user_id for a in group if a.label == label))
    if sum((who, top) in established for who in behind) >= 2:
        source = "trusted"
    elif behind:
        source = "consensus" if len(behind) >= 2 else "feedback"
    else:
        source = "model"
    trust = float(posterior[top])
    return Labelled(image_id, label, source, trust, len(group), probabilities, behind)
