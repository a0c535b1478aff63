"""``POST /v1/predictions``: a photo in, the top 3 out; the photo and interaction are kept.

They are kept behind the answer: the prediction log (``model_server.prediction_log``) writes
them in rounds.
"""

from __future__ import annotations

import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, UploadFile
from starlette.concurrency import run_in_threadpool

from core.errors import CreatureVisError, ForgottenMeanwhile
from core.images import IntakeImage, intake
from core.model.api import Prediction
from core.model.preprocess import RESIZE_SHORT
from core.photos import PhotoToStore, image_row
from core.schemas import LabelScore
from core.warehouse.records import interaction_row, new_id
from model_server.batching import BatcherClosed
from model_server.errors import ModelUnavailable
from model_server.prediction_log import LoggedPrediction
from model_server.routes.common import error_responses, read_upload
from model_server.schemas import PredictionResponse
from model_server.state import Admitted, AppState, Caller, CurrentCaller, ServerState

router = APIRouter(prefix="/v1", tags=["predictions"])


@router.post(
    "/predictions",
    response_model=PredictionResponse,
    responses=error_responses(400, 401, 409, 413, 415, 422, 429, 503),
    summary="Classify a photo",
)
async def create_prediction(
    state: AppState,
    caller: CurrentCaller,
    quota: Admitted,
    image: Annotated[UploadFile, File(description="A JPEG, PNG, WebP or GIF photo.")],
) -> PredictionResponse:
    """Predict the top 3 labels of a photo; the photo is stored and the prediction logged."""
    sent = time.time()  # a "Forget me" from now on covers this photo too
    data = await read_upload(image, state.settings.images.max_bytes)
    state.limits.charge_storage(quota, len(data))
    phase = state.metrics.phase
    started = time.perf_counter()
    photo, prepared = await run_in_threadpool(_accept, state, data)
    accepted = time.perf_counter()
    prediction = await _predict(state, photo, prepared)
    predicted = time.perf_counter()
    latency_ms = (predicted - started) * 1000
    if caller.holder is not None and await run_in_threadpool(
        state.forgotten.forgot_since, caller.holder, sent
    ):
        raise ForgottenMeanwhile(f"{caller.user_id} was forgotten while predicting")
    interaction_id = new_id()
    await _log(
        state,
        photo=photo,
        prediction=prediction,
        interaction_id=interaction_id,
        caller=caller,
        latency_ms=latency_ms,
        sent=sent,
    )
    phase.labels(phase="intake").observe(accepted - started)
    phase.labels(phase="model").observe(predicted - accepted)
    phase.labels(phase="log").observe(time.perf_counter() - predicted)
    state.metrics.serving(prediction.model_version)
    state.metrics.predictions.labels(
        label=prediction.label, model_version=prediction.model_version
    ).inc()
    return PredictionResponse(
        interaction_id=interaction_id,
        image_id=photo.sha256,
        model_version=prediction.model_version,
        top3=[LabelScore(label=label, probability=p) for label, p in prediction.top3],
        answer=prediction.answer,
        latency_ms=round(latency_ms, 2),
    )


def _accept(state: ServerState, data: bytes) -> tuple[IntakeImage, np.ndarray]:
    """Validate and decode (JPEGs at reduced scale), then prepare the model input."""
    limits = state.settings.images
    photo = intake(
        data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, draft_size=RESIZE_SHORT
    )
    return photo, state.model.prepare(photo.image)


async def _predict(state: ServerState, photo: IntakeImage, prepared: np.ndarray) -> Prediction:
    try:
        return await state.batcher.predict(photo.image, prepared)
    except CreatureVisError:
        raise
    except BatcherClosed as exc:
        raise ModelUnavailable(str(exc)) from exc
    except Exception as exc:
        raise ModelUnavailable(f"prediction failed: {exc!r}") from exc


async def _log(
    state: ServerState,
    *,
    photo: IntakeImage,
    prediction: Prediction,
    interaction_id: str,
    caller: Caller,
    latency_ms: float,
    sent: float,
) -> None:
    """Queue the photo and the interaction row for the prediction log; cache the features.

    The answer waits for its own write only when the log is far behind (the warehouse is
    slow or down: ``PredictionLog.far_behind``).
    """
    state.features.submit(photo.sha256, prediction)
    row = interaction_row(
        interaction_id=interaction_id,
        channel=caller.channel,
        image_id=photo.sha256,
        model_version=prediction.model_version,
        top3=prediction.top3,
        probabilities=prediction.probabilities,
        user_id=caller.user_id,
        latency_ms=latency_ms,
        shadow=prediction.shadow,
        answer=prediction.answer,
    )
    stored = PhotoToStore(
        photo.data, image_row(photo, source=caller.channel, user_id=caller.user_id)
    )
    entry = LoggedPrediction(stored, row, caller.holder, sent)
    if not state.prediction_log.add(entry):  # the server is stopping: write it now
        await run_in_threadpool(state.prediction_log.write, [entry])
    elif state.prediction_log.far_behind:
        await run_in_threadpool(state.prediction_log.settle, interaction_id)
