"""What one check or round reads from the warehouse and the store, read once.

The latest frozen training and test versions, every person's effective answer, and the
acquired photos with a weak label that neither a version holds nor a person answered about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.manifests import Manifest
from core.storage import ImageStore
from core.trust import answer_rows
from core.warehouse import Warehouse
from retraining import datasets
from retraining.weak import weak_rows


@dataclass(frozen=True)
class Snapshot:
    """The latest dataset versions, the answers that count, and the weak candidates."""

    train: Manifest | None
    test: Manifest | None
    answers: list[dict[str, Any]]
    weak: list[dict[str, Any]]

    @property
    def held(self) -> set[str]:
        """Return the photos already in the latest training or test version."""
        held: set[str] = set()
        for manifest in (self.train, self.test):
            if manifest is not None:
                held |= manifest.ids()
        return held

    @property
    def new_answered(self) -> set[str]:
        """Return the photos people answered about that no version holds yet."""
        return {str(row["image_id"]) for row in self.answers} - self.held


def read_snapshot(warehouse: Warehouse, store: ImageStore) -> Snapshot:
    """Read the latest versions, the answers and the weak candidates once."""
    train = datasets.latest(warehouse, store, "train")
    test = datasets.latest(warehouse, store, "test")
    answers = answer_rows(warehouse)
    partial = Snapshot(train, test, answers, [])
    weak = weak_rows(warehouse, partial.held | partial.new_answered)
    return Snapshot(train, test, answers, weak)
