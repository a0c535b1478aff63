"""What the server knows: the label set, the model versions, and the status figures."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from core.labels import DISPLAY_NAMES, LABEL_INDEX, VALID_LABELS, guess_phrase
from core.metrics.summary import key_figures
from core.trust import trust_report
from core.warehouse.records import utcnow
from model_server.schemas import (
    AnswerTrust,
    LabelInfo,
    LabelsResponse,
    ModelResponse,
    StatusResponse,
)
from model_server.state import AppState, ServerState
from model_server.status import (
    estimated_accuracy,
    feedback_counts,
    prediction_count,
    version_info,
)

router = APIRouter(prefix="/v1", tags=["catalogue"])


@router.get("/labels", response_model=LabelsResponse, summary="The 16 labels")
async def list_labels() -> LabelsResponse:
    """Return the fixed label set in model output order."""
    return LabelsResponse(
        labels=[
            LabelInfo(
                label=label,
                display_name=DISPLAY_NAMES[label],
                phrase=guess_phrase(label),
                index=LABEL_INDEX[label],
            )
            for label in VALID_LABELS
        ]
    )


@router.get("/model", response_model=ModelResponse, summary="The production model")
async def describe_model(state: AppState) -> ModelResponse:
    """Return the production version with its metrics and lineage, and the version history."""
    return await run_in_threadpool(_model, state)


@router.get("/status", response_model=StatusResponse, summary="Figures for the status view")
async def status(state: AppState) -> StatusResponse:
    """Return the production model, answered and estimated accuracy, and the model history."""
    return await run_in_threadpool(_status, state)


def _model(state: ServerState) -> ModelResponse:
    production, history = state.model.describe()
    return ModelResponse(
        production=version_info(production) if production else None,
        serving=state.model.loaded_version,
        history=[version_info(info) for info in history],
    )


def _status(state: ServerState) -> StatusResponse:
    state.prediction_log.flush()  # predictions answered a moment ago count
    counts, per_version = feedback_counts(state.warehouse)
    week = trust_report(state.warehouse, state.settings.curation, utcnow(), limit=0).week
    return StatusResponse(
        model=_model(state),
        feedback=counts,
        feedback_by_version=per_version,
        estimated_accuracy=estimated_accuracy(
            state.warehouse, state.model.handle.registry, state.settings.triggers.estimate_window
        ),
        predictions=prediction_count(state.warehouse),
        answers_this_week=AnswerTrust(**asdict(week)),
        key_figures=key_figures(
            state.warehouse, rolling_answers=state.settings.triggers.accuracy_window
        ).to_json(),
    )
