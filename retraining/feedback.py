"""What retraining reads from the warehouse: answers, production accuracy, recent photos."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from core.warehouse import Warehouse
from core.warehouse.records import ANSWERS_THAT_COUNT, answer_params
from retraining.curation import Answer

ANSWERS_SQL = f"""
SELECT f.user_id, f.label, f.is_admin, f.is_correct, f.model_version, f.created_at,
       i.image_id, i.probabilities_json
FROM {ANSWERS_THAT_COUNT} AS f JOIN interactions AS i ON i.interaction_id = f.interaction_id
"""  # noqa: S608  (constants)
RECENT_IMAGES_SQL = """
SELECT image_id FROM interactions ORDER BY created_at DESC LIMIT @limit
"""
LAST_EVENT_SQL = """
SELECT MAX(created_at) AS at FROM retrain_events WHERE kind = @kind
"""
LAST_CHECK_SQL = """
SELECT created_at, fired, rule, details_json FROM retrain_events WHERE kind = 'check'
ORDER BY created_at DESC, event_id DESC LIMIT 1
"""
IMAGE_KEYS_SQL = "SELECT image_id, storage_key FROM images"


def answer_rows(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Return each person's effective answer with its photo, oldest first."""
    rows = warehouse.query(ANSWERS_SQL, answer_params())
    return sorted(rows, key=lambda row: (row["created_at"], row["image_id"], row["user_id"]))


def to_answers(rows: list[dict[str, Any]]) -> list[Answer]:
    """Turn answer rows into curation answers."""
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


def production_correctness(rows: list[dict[str, Any]], version: str) -> list[bool]:
    """Return, oldest first, whether each answer about ``version`` confirmed its prediction."""
    return [bool(row["is_correct"]) for row in rows if row["model_version"] == version]


def recent_image_ids(warehouse: Warehouse, limit: int) -> list[str]:
    """Return the photos of the last ``limit`` interactions."""
    return [str(r["image_id"]) for r in warehouse.query(RECENT_IMAGES_SQL, {"limit": limit})]


def last_event_time(warehouse: Warehouse, kind: str) -> dt.datetime | None:
    """Return when the last retrain event of ``kind`` happened."""
    rows = warehouse.query(LAST_EVENT_SQL, {"kind": kind})
    value = rows[0]["at"] if rows else None
    return value if isinstance(value, dt.datetime) else None


def last_check(warehouse: Warehouse) -> dict[str, Any] | None:
    """Return the latest check event with its details decoded, or None before any check."""
    rows = warehouse.query(LAST_CHECK_SQL)
    if not rows:
        return None
    return {**rows[0], "details": json.loads(rows[0]["details_json"] or "{}")}


def image_keys(warehouse: Warehouse) -> dict[str, str]:
    """Return the storage key of every stored photo by image id."""
    return {str(r["image_id"]): str(r["storage_key"]) for r in warehouse.query(IMAGE_KEYS_SQL)}
