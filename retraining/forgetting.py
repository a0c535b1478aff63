"""Forgetting, recorded: each version's accuracy on every earlier dataset version's examples.

A round that grows the held-out test set freezes a test version whose new examples belong to
what that round's challenger learnt (``added_in`` names the version that first took each).
Row ``i`` of the matrix R is version ``i``'s accuracy on each such group of held-out examples,
measured when it is evaluated and stored in its metrics as ``retention``; ``retention_group``
names its own group, and its accuracy there is the diagonal entry ``R[j][j]``. Held-out
examples are used, not training ones: a head gets nearly every training example right, so on
those nothing is ever seen to be forgotten.

As in GEM (Lopez-Paz and Ranzato, 2017), with T the newest version::

    average accuracy  ACC = mean_j R[T][j]
    backward transfer BWT = mean_{j < T} (R[T][j] - R[j][j])

A negative BWT is forgetting: the new version gets wrong what its predecessors had learnt.
Groups without a recorded diagonal (learnt before retention was recorded) are left out, and a
version with no earlier group has no BWT. The gate refuses a challenger whose BWT falls below
``promotion.min_backward_transfer``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.errors import ModelArtifactError
from core.model.classifier import Head
from core.model.features import FeatureCache
from core.model.registry import ModelRegistry
from retraining import datasets
from retraining.evaluate import GateResult, predict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transfer:
    """ACC and BWT of one version against the diagonal of its predecessors."""

    average_accuracy: float | None
    backward_transfer: float | None
    groups: int  # earlier groups that have a diagonal entry (the BWT's terms)

    def to_json(self) -> dict[str, Any]:
        """Return the figures stored with the version."""
        return {
            "average_accuracy": self.average_accuracy,
            "backward_transfer": self.backward_transfer,
            "transfer_groups": self.groups,
        }


def groups(manifest: datasets.Manifest) -> dict[str, list[datasets.Example]]:
    """A manifest's examples grouped by the dataset version that first took them."""
    found: dict[str, list[datasets.Example]] = {}
    for example in manifest.examples:
        found.setdefault(example.added_in, []).append(example)
    return found


def retention(
    features: FeatureCache, head: Head | None, by_group: dict[str, list[datasets.Example]]
) -> dict[str, float]:
    """One row of R: a version's accuracy on each group's examples."""
    row = {}
    for version, examples in by_group.items():
        if examples:
            truth = np.asarray(datasets.label_indices(examples), np.int64)
            on_group = features.get([e.image_id for e in examples])
            row[version] = float(np.mean(predict(head, on_group) == truth))
    return row


def own_group(test: datasets.Manifest, diagonal: dict[str, float]) -> str | None:
    """The challenger's own group: the test version its round froze (None if it froze none)."""
    return None if test.version in diagonal else test.version


def transfer(row: dict[str, float], own: str | None, diagonal: dict[str, float]) -> Transfer:
    """ACC and BWT of the version whose row is ``row`` and whose own group is ``own``."""
    average = float(np.mean(list(row.values()))) if row else None
    terms = [row[j] - diagonal[j] for j in row if j != own and j in diagonal]
    bwt = float(np.mean(terms)) if terms else None
    return Transfer(average, bwt, len(terms))


def diagonal(registry: ModelRegistry) -> dict[str, float]:
    """R[j][j] of every version that recorded it, keyed by its own dataset version."""
    found = {}
    for version in registry.versions():
        try:
            model = registry.get(version)
        except ModelArtifactError as exc:  # a broken version teaches nothing about the others
            log.warning("forgetting: %s skipped: %s", version, exc)
            continue
        own, row = model.metrics.get("retention_group"), model.metrics.get("retention") or {}
        if own is not None and own in row:
            found[own] = float(row[own])
    return found


def refuse_forgetting(verdict: GateResult, found: Transfer, bound: float) -> GateResult:
    """The verdict, refused when it passed but the challenger's BWT is below ``bound``."""
    figures = {**verdict.figures, "transfer": found.to_json()}
    bwt = found.backward_transfer
    if verdict.passed and bwt is not None and bwt < bound:
        reason = f"backward transfer {bwt:+.4f} below {bound:+.4f} ({found.groups} versions)"
        return GateResult(False, reason, figures)
    return replace(verdict, figures=figures)
