"""Classify a stored photo and log the interaction exactly once (keyed by interaction id).

The answer is always built from the logged row, so a redelivered task answers exactly what
the first delivery logged.
"""

from __future__ import annotations

import json
import time

import numpy as np
from pydantic import ValidationError

from core.errors import ObjectNotFound
from core.model.api import Prediction
from core.model.preprocess import decode, to_input, unpack_input
from core.photos import find_image, photo_keys
from core.queue import InvalidTaskPayload, waiting_kwargs
from core.schemas import ClassifyRequest, ClassifyResult, LabelScore
from core.storage import ImageStore
from core.tasks import CLASSIFY, INFERENCE_QUEUE
from core.warehouse import Row, Warehouse
from core.warehouse.records import interaction_row
from workers.context import WorkerContext


def classify_photo(
    context: WorkerContext, request: ClassifyRequest, *, batch: bool = True
) -> ClassifyResult:
    """Predict for the photo ``request.image_id`` and log it under ``request.interaction_id``.

    The row goes to the interaction log (Redis, flushed to the warehouse in batches); a
    redelivered request logs nothing new and returns what was logged the first time. A staged
    model's shadow label goes in the row; the photo's features go to the feature cache.

    Photos waiting behind this one in the queue with their model input (``pixels``) are
    predicted in the same batch and logged now; their own tasks then find their row and
    answer from it at once. Their messages stay queued, so a worker dying mid-batch loses
    nothing. Without ``batch`` the photo is predicted alone.
    """
    held = context.interactions.held(request.interaction_id)
    if held is not None:  # logged already, by an earlier delivery or a batch it was in
        return result_from_row(held)
    started = time.perf_counter()
    together = [(request, model_input(context, request))]
    if batch:
        together += waiting_requests(context, context.settings.workers.batch_max - 1)
    requests = [one for one, _ in together]
    predictions = context.model.predict_inputs(np.stack([pixels for _, pixels in together]))
    latency_ms = (time.perf_counter() - started) * 1000
    answers = [
        log_prediction(context, one, prediction, latency_ms)
        for one, prediction in zip(requests, predictions, strict=True)
    ]
    return answers[0]


def waiting_requests(
    context: WorkerContext, limit: int
) -> list[tuple[ClassifyRequest, np.ndarray]]:
    """Requests queued behind this one that carry a valid input and are not logged yet."""
    found = []
    for kwargs in waiting_kwargs(context.redis, INFERENCE_QUEUE, CLASSIFY, limit):
        try:
            request = ClassifyRequest.model_validate(kwargs)
            if request.pixels is None or context.interactions.held(request.interaction_id):
                continue
            found.append((request, unpack_input(request.pixels)))
        except (ValidationError, ValueError):
            continue  # its own task refuses it
    return found


def log_prediction(
    context: WorkerContext, request: ClassifyRequest, prediction: Prediction, latency_ms: float
) -> ClassifyResult:
    """Log one prediction (once per interaction id) and return the answer logged."""
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
        answer=prediction.answer,
    )
    context.features.submit(request.image_id, prediction)
    return result_from_row(context.interactions.add(row) or row)


def model_input(context: WorkerContext, request: ClassifyRequest) -> np.ndarray:
    """The request's model input: sent with it, or read from the store and decoded."""
    if request.pixels is not None:
        try:
            return unpack_input(request.pixels)
        except ValueError as exc:
            raise InvalidTaskPayload(f"pixels of {request.interaction_id}: {exc}") from exc
    limits = context.settings.images
    # The one preprocessing path, so served and recomputed features match exactly.
    image = decode(
        context.store.get(locate_photo(context.store, context.warehouse, request.image_id)),
        max_bytes=limits.max_bytes,
        max_pixels=limits.max_pixels,
    )
    return to_input(image)


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
        answer_set=json.loads(str(row["answer_json"])) if row.get("answer_json") else [],
    )
