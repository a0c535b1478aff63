"""What retraining reads from the warehouse besides answers (``core.trust``): photos, events."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from core.warehouse import Warehouse

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
