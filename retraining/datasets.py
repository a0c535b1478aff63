"""Dataset versions: frozen manifests in the ImageStore plus a dataset_versions row each.

Training versions (``d1``, ``d2``...) are cumulative: a version holds its parent's examples
plus the newly curated ones (``added_in`` says which version first took each). The held-out
test set is versioned apart (``t1``, ``t2``...): it is carved out once per label while a label
has fewer than ``test_per_label`` test examples (a fixed hash of the image id picks about
``test_fraction`` of the new examples whose label trust is at least ``min_test_trust`` and
which ``may_judge``: an admin's, or ``trusted`` by two established people; never a weak
``weak:*`` photo API label, a newcomer alone or an anonymous session), is never trained
on, and afterwards only grows by appending examples of labels it still lacks. The manifest
format and layout are in ``core.manifests``; photos a person asked to forget leave every
version, frozen or not.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from core.labels import LABEL_INDEX
from core.manifests import (
    PREFIX,
    Example,
    Kind,
    Manifest,
    load,
    load_version,
    manifest_key,
    redact,
    selection_key,
)
from core.settings import CurationSettings
from core.storage import ImageStore
from core.warehouse import Warehouse
from core.warehouse.records import utcnow

__all__ = [
    "PREFIX",
    "Example",
    "Kind",
    "Manifest",
    "SplitPolicy",
    "freeze",
    "in_test",
    "label_indices",
    "latest",
    "load",
    "load_version",
    "manifest_key",
    "may_judge",
    "selection_key",
    "split_new",
]
JUDGING_SOURCES = ("admin", "trusted")
LATEST_SQL = """
SELECT version, manifest_key, created_at FROM dataset_versions
WHERE kind = @kind ORDER BY created_at DESC, version DESC LIMIT 1
"""


@dataclass(frozen=True)
class SplitPolicy:
    """How new examples are split between training and the held-out test set."""

    test_fraction: float
    test_per_label: int
    min_test_trust: float  # only well-trusted labels may judge models

    @classmethod
    def from_settings(cls, section: CurationSettings) -> SplitPolicy:
        """Build the split from the ``curation`` settings section."""
        return cls(
            test_fraction=section.test_fraction,
            test_per_label=section.test_per_label,
            min_test_trust=section.min_test_trust,
        )


def latest(warehouse: Warehouse, store: ImageStore, kind: Kind) -> Manifest | None:
    """Return the newest frozen version of a kind, or None before the first one."""
    rows = warehouse.query(LATEST_SQL, {"kind": kind})
    return load(store, str(rows[0]["manifest_key"])) if rows else None


def in_test(image_id: str, fraction: float) -> bool:
    """Tell whether the fixed hash of ``image_id`` falls in the test fraction."""
    digest = hashlib.sha256(f"holdout:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def may_judge(example: Example, policy: SplitPolicy) -> bool:
    """Tell whether an example may enter the held-out test set that decides promotions.

    Only an admin's label, or a label whose trust (posterior) is at least ``min_test_trust``
    and which at least two independent established people gave (``trusted``): never one
    newcomer alone, an anonymous session, the model's own reading, or a weak label.
    """
    return example.source in JUDGING_SOURCES and example.weight >= policy.min_test_trust


def split_new(
    new: list[Example], test: Manifest | None, policy: SplitPolicy
) -> tuple[list[Example], list[Example]]:
    """Split new examples into (train, test) additions; test only takes labels it lacks.

    About ``test_fraction`` of the new examples go to test, drawn among those that
    ``may_judge`` (so a stream where few labels may judge still grows the test set).
    """
    test_counts = Counter(e.label for e in test.examples) if test else Counter()
    judging = [may_judge(example, policy) for example in new]
    fraction = min(1.0, policy.test_fraction * len(new) / max(1, sum(judging)))
    to_train, to_test = [], []
    for example, judges in zip(new, judging, strict=True):
        lacking = test_counts[example.label] < policy.test_per_label
        if lacking and judges and in_test(example.image_id, fraction):
            test_counts[example.label] += 1
            to_test.append(replace(example, split="test"))
        else:
            to_train.append(replace(example, split="train"))
    return to_train, to_test


def freeze(
    store: ImageStore,
    warehouse: Warehouse,
    kind: Kind,
    parent: Manifest | None,
    additions: list[Example],
) -> Manifest:
    """Freeze parent + additions as the next version of ``kind``; write manifest, then row."""
    version = _next_version(kind, parent)
    stamped = [replace(e, added_in=version) for e in additions]
    examples = (parent.examples if parent else []) + stamped
    manifest = Manifest(version, kind, parent.version if parent else None, "", examples)
    manifest = replace(manifest, created_at=utcnow().isoformat())
    key = manifest_key(kind, version)
    if not store.create(key, manifest.to_json(), "application/json"):
        raise FileExistsError(f"dataset version {kind}/{version} already exists")
    redact(store, key)  # a /forget that ran meanwhile may have missed this new file
    warehouse.insert("dataset_versions", [_row(manifest, key)])
    return manifest


def _row(manifest: Manifest, key: str) -> dict[str, Any]:
    return {
        "version": manifest.version,
        "created_at": utcnow(),
        "parent_version": manifest.parent,
        "manifest_key": key,
        "kind": manifest.kind,
        "n_examples": len(manifest.examples),
        "counts_json": json.dumps(manifest.counts()),
    }


def _next_version(kind: Kind, parent: Manifest | None) -> str:
    letter = "d" if kind == "train" else "t"
    number = int(parent.version[1:]) + 1 if parent else 1
    return f"{letter}{number}"


def label_indices(examples: list[Example]) -> list[int]:
    """Return the label index of each example."""
    return [LABEL_INDEX[e.label] for e in examples]
