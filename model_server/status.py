"""Figures for the status view: answered and estimated accuracy, feedback counts.

Feedback counts and accuracy come overall and per model version; production's accuracy is
also estimated without labels from its latest predictions (``core.metrics.estimated_accuracy``).
"""

from __future__ import annotations

from core.metrics.estimated_accuracy import production_estimate
from core.model.label_free import Estimate
from core.model.registry import ModelRegistry
from core.warehouse import Warehouse
from core.warehouse.records import ANSWERS_THAT_COUNT, answer_params
from model_server.model import VersionInfo
from model_server.schemas import (
    EstimateBounds,
    EstimatedAccuracyInfo,
    FeedbackCounts,
    ModelVersionInfo,
    VersionFeedback,
)

# The answers that count (core.warehouse.records), per model version.
FEEDBACK_BY_VERSION_SQL = f"""
SELECT e.model_version AS version, COUNT(*) AS total, COUNTIF(e.is_correct) AS correct
FROM {ANSWERS_THAT_COUNT} AS e
GROUP BY e.model_version
"""  # noqa: S608  (constants)
PREDICTIONS_SQL = "SELECT COUNT(*) AS total FROM interactions"


def feedback_counts(warehouse: Warehouse) -> tuple[FeedbackCounts, list[VersionFeedback]]:
    """Return overall counts and the per-version breakdown."""
    rows = warehouse.query(FEEDBACK_BY_VERSION_SQL, answer_params())
    total = sum(int(row["total"]) for row in rows)
    correct = sum(int(row["correct"]) for row in rows)
    per_version = [
        VersionFeedback(
            version=str(row["version"]),
            total=int(row["total"]),
            accuracy=_ratio(int(row["correct"]), int(row["total"])),
        )
        for row in sorted(rows, key=lambda r: str(r["version"]))
    ]
    counts = FeedbackCounts(
        total=total, correct=correct, incorrect=total - correct, accuracy=_ratio(correct, total)
    )
    return counts, per_version


def estimated_accuracy(
    warehouse: Warehouse, registry: ModelRegistry, window: int
) -> EstimatedAccuracyInfo:
    """Return production's label-free estimate; no figures before it has a calibration."""
    found = production_estimate(warehouse, registry, window=window)

    def bounds(figure: Estimate | None) -> EstimateBounds | None:
        if figure is None or not found.calibrated:
            return None  # raw probabilities overstate accuracy: show nothing rather than that
        return EstimateBounds(value=round(figure.value, 4), low=round(figure.low, 4),
                              high=round(figure.high, 4))  # fmt: skip

    return EstimatedAccuracyInfo(version=found.version, calibrated=found.calibrated,
                                 predictions=found.predictions, cbpe=bounds(found.cbpe),
                                 atc=bounds(found.atc), threshold=found.threshold)  # fmt: skip


def prediction_count(warehouse: Warehouse) -> int:
    """Return how many predictions were logged."""
    rows = warehouse.query(PREDICTIONS_SQL)
    return int(rows[0]["total"]) if rows else 0


def version_info(info: VersionInfo) -> ModelVersionInfo:
    """Convert the model service's description to the API body."""
    return ModelVersionInfo(
        version=info.version,
        kind=info.kind,
        created_at=info.created_at,
        parent_version=info.parent_version,
        dataset_version=info.dataset_version,
        metrics=info.metrics,
        production=info.production,
    )


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
