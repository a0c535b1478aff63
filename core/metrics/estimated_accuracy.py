"""The production version's accuracy estimated without labels, over its latest predictions.

One reading shared by the trigger check, the exporter and the status view: the top
probabilities of the production version's latest ``window`` predictions as served
(``core.warehouse.records.recent_confidences``), and the version's ATC threshold from its
calibration (``core.model.label_free``). Before a round has fitted a calibration the served
probabilities are raw and there is no threshold: the estimate says so (``calibrated``), has
no ATC figure, and the trigger rule abstains.

A version keeps its calibration until the next round refits it on a grown test set; the
predictions it served under the previous fit stay in the window until newer ones push them
out. The version and its calibration are read as they are now, also for an earlier
``until``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.model.label_free import Estimate, estimate
from core.model.registry import TAXONOMY_VERSION, ModelRegistry
from core.warehouse import Warehouse
from core.warehouse.records import recent_confidences


@dataclass(frozen=True)
class EstimatedAccuracy:
    """Both label-free estimates of a version over its latest ``predictions`` predictions."""

    version: str
    calibrated: bool
    predictions: int
    cbpe: Estimate | None  # None without predictions
    atc: Estimate | None  # None without predictions or without a calibration
    threshold: float | None

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (estimates as objects with value, low, high, predictions)."""
        return asdict(self)


def production_estimate(
    warehouse: Warehouse,
    registry: ModelRegistry,
    *,
    window: int,
    until: dt.datetime | None = None,
) -> EstimatedAccuracy:
    """Estimate the production version's accuracy over its latest ``window`` predictions."""
    version = registry.production() or TAXONOMY_VERSION
    calibration = registry.calibration(version)
    threshold = None if calibration is None else calibration.confidence_threshold
    top = np.asarray(recent_confidences(warehouse, version=version, limit=window, until=until))
    found = estimate(top, threshold)
    return EstimatedAccuracy(
        version=version,
        calibrated=calibration is not None,
        predictions=len(top),
        cbpe=None if found is None else found.cbpe,
        atc=None if found is None else found.atc,
        threshold=threshold,
    )
