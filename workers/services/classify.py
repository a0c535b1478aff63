"""Classify a stored photo and log the interaction exactly once (keyed by interaction id).

The answer is always built from the logged row, so a redelivered task answers exactly what
the first delivery logged.
"""

from __future__ import annotations

import json
import time

from core.errors import ObjectNotFound
from core.model.preprocess import decode
from core.photos import find_image, photo_keys
from core.schemas import ClassifyRequest, ClassifyResult, LabelScore
from core.storage import ImageStore
from core.warehouse import Row, Warehouse
from core.warehouse.records import interaction_row
from workers.context import WorkerContext


def classify_photo(context: WorkerContext, request: ClassifyRequest) -> ClassifyResult:
    """Predict for the photo ``request.image_id`` and log it under ``request.interaction_id``.

    The row goes to the interaction log (Redis, flushed to the warehouse in batches); a
    redelivered request logs nothing new and returns what was logged the first time. A staged
    model's shadow label goes in the row; the photo's features go to the feature cache.
    """
    started = time.perf_counter()
    limits = context.settings.images
    # The one preprocessing path, so served and recomputed features match exactly.
    image = decode(
        context.store.get(locate_photo(context.store, context.warehouse, request.image_id)),
        max_bytes=limits.max_bytes,
        max_pixels=limits.max_pixels,
    )
    prediction = context.model.predict([image])[0]
    latency_ms = (time.perf_counter() - started) * 1000
    row = interaction_row(
        interaction_id=request.interaction_id,
        channel=request.channel,
        image_id=request.image_id,
        model_version=prediction.model_version,
        top3=prediction.top3,
        probabilities=prediction.probabilities,
        user_id=request.user_id,
        chat_id=request.chat_id,
        latency_ms=latency_ms,
        shadow=prediction.shadow,
    )
    context.features.submit(request.image_id, prediction)
    return result_from_row(context.interactions.add(row) or row)


def locate_photo(store: ImageStore, warehouse: Warehouse, image_id: str) -> str:
    """Return the storage key of a stored photo.

    Keys are content-addressed (``core.photos.photo_key``), so probing the few possible
    extensions saves a warehouse query per job (a DuckDB open costs tens of ms); the images
    table is the fallback.
    """
    for key in photo_keys(image_id):
        if store.exists(key):
            return key
    row = find_image(warehouse, image_id)
    if row is None:
        raise ObjectNotFound(f"no stored image {image_id}")
    return str(row["storage_key"])


def result_from_row(row: Row) -> ClassifyResult:
    """Build the answer from an interactions row (the one logged, on a redelivery)."""
    top3 = json.loads(str(row["top3_json"]))
    return ClassifyResult(
        interaction_id=str(row["interaction_id"]),
        image_id=str(row["image_id"]),
        model_version=str(row["model_version"]),
        top3=[LabelScore(label=label, probability=p) for label, p in top3],
        latency_ms=float(row["latency_ms"] or 0.0),
    )
