"""Weak labels: photos pulled from photo APIs, labelled by the search query that found them.

Acquisition stores each pulled photo in the ``images`` table with its source (``unsplash`` or
``pexels``) and the query's label as ``weak_label``. Until a dataset version holds it (and
unless a person answered about it, whose answer then decides), such a photo is a curation
candidate with the label source ``weak:<source>`` and a trust set by the production model:

* ``weak_trust`` (0.5, lower than a person with a good record) by default;
* ``weak_agree_trust`` (0.75) when the model's top label is the weak label;
* ``weak_trust x weak_disagree_factor`` (0.35) when the model gives another label at least
  ``confident`` probability. It stays above ``min_trust`` on purpose: the production model is
  confidently wrong on labels it never learnt (model v0 has no giraffe or deer), exactly the
  photos the loop most needs, so disagreement only lowers their training weight.

Every weak trust stays under the held-out set's ``min_test_trust`` (0.8), and
``datasets.split_new`` also refuses weak sources outright: weak labels never judge models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.labels import LABEL_INDEX
from core.photos import ACQUIRED_SOURCES
from core.warehouse import Warehouse
from retraining.curation import CurationConfig, Labelled

WEAK_SOURCES = ACQUIRED_SOURCES
WEAK_PREFIX = "weak:"
WEAK_SQL = """
SELECT image_id, source, weak_label, created_at FROM images
WHERE weak_label IS NOT NULL AND source IN UNNEST(@sources)
ORDER BY created_at, image_id
"""


def is_weak(source: str) -> bool:
    """Tell whether a label source is a weak (photo API query) label."""
    return source.startswith(WEAK_PREFIX)


def weak_rows(warehouse: Warehouse, exclude: set[str]) -> list[dict[str, Any]]:
    """Return acquired photos with a known weak label that are not in ``exclude``, oldest first."""
    return [
        row
        for row in warehouse.query(WEAK_SQL, {"sources": list(WEAK_SOURCES)})
        if str(row["weak_label"]) in LABEL_INDEX and str(row["image_id"]) not in exclude
    ]


def weak_trust(label: str, probabilities: np.ndarray, config: CurationConfig) -> float:
    """Return the trust of a weak label given the production model's probabilities."""
    top = int(np.argmax(probabilities))
    if top == LABEL_INDEX[label]:
        return config.weak_agree_trust
    if float(probabilities[top]) >= config.confident:
        return config.weak_trust * config.weak_disagree_factor
    return config.weak_trust


def weak_labelled(
    rows: list[dict[str, Any]], probabilities: np.ndarray, config: CurationConfig
) -> list[Labelled]:
    """Turn acquired photos and the production model's ``(N, 16)`` probabilities into labels."""
    result = []
    for row, probs in zip(rows, np.asarray(probabilities, np.float64), strict=True):
        label = str(row["weak_label"])
        result.append(
            Labelled(
                image_id=str(row["image_id"]),
                label=label,
                source=f"{WEAK_PREFIX}{row['source']}",
                trust=round(weak_trust(label, probs, config), 4),
                votes=0,
                probabilities=tuple(float(p) for p in probs),
            )
        )
    return result
