"""What a simulated round reports about the predictions it served, for ``simulate --json``.

The label-free estimates of their accuracy (``core.model.label_free``) from the probabilities
as served, beside the true accuracy of the same predictions, and what the round's trigger
check decided, with every rule that held and the estimate it read from the warehouse.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from core.model import label_free
from core.model.calibration import Calibration


def served_figures(
    served: np.ndarray, truth: np.ndarray, calibration: Calibration | None
) -> dict[str, Any]:
    """The label-free estimates of served probabilities and the true accuracy they estimate."""
    threshold = None if calibration is None else calibration.confidence_threshold
    found = label_free.estimate(served.max(axis=1), threshold)
    right = served.argmax(axis=1) == truth
    return {
        "estimated_accuracy": None
        if found is None
        else rounded({"calibrated": calibration is not None, **asdict(found)}),
        "answered_accuracy": round(float(right.mean()), 4) if len(right) else None,
    }


def check_figures(event: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the round's trigger check decided, which rules held, and the estimate it read."""
    if event is None:
        return None
    details = event["details"]
    found = details.get("measured", {}).get("estimate") or {}
    return {
        "fired": event["fired"],
        "rule": event["rule"],
        "holding": details.get("holding", []),
        "estimate": rounded({
            "predictions": found.get("predictions"),
            "cbpe": (found.get("cbpe") or {}).get("value"),
            "atc": (found.get("atc") or {}).get("value"),
        }),
    }  # fmt: skip


def rounded(value: Any) -> Any:
    """Round every float in nested dictionaries to 4 places."""
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return round(value, 4) if isinstance(value, float) else value
