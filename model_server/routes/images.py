"""``POST /v1/images``: add a photo for training, with its label and provenance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from core.errors import InvalidLabel, ReservedSource
from core.images import intake
from core.labels import is_valid_label
from core.photos import ACQUIRED_SOURCES, StoredPhoto, store_photo
from model_server.routes.common import error_responses, read_upload
from model_server.schemas import ImageResponse
from model_server.state import Admitted, AppState, CurrentCaller, ServerState

router = APIRouter(prefix="/v1", tags=["images"])
_SOURCE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


@router.post(
    "/images",
    response_model=ImageResponse,
    status_code=201,
    responses={
        200: {"model": ImageResponse, "description": "Already held (a duplicate)."},
        **error_responses(400, 401, 413, 415, 422, 429),
    },
    summary="Add a training photo",
)
async def add_image(
    *,
    state: AppState,
    caller: CurrentCaller,
    quota: Admitted,
    image: Annotated[UploadFile, File(description="A JPEG, PNG, WebP or GIF photo.")],
    label: Annotated[str | None, Form(max_length=32, description="What it shows.")] = None,
    source: Annotated[str, Form(pattern=_SOURCE_PATTERN)] = "upload",
    license: Annotated[str | None, Form(max_length=200)] = None,
    attribution: Annotated[str | None, Form(max_length=500)] = None,
    source_url: Annotated[str | None, Form(max_length=2000)] = None,
    source_id: Annotated[str | None, Form(max_length=200)] = None,
) -> JSONResponse:
    """Store a photo once; exact and near duplicates are reported and not stored again."""
    if label is not None and not is_valid_label(label):
        raise InvalidLabel(f"unknown label {label!r}")
    if source in ACQUIRED_SOURCES:  # its label would train the model as an acquired photo's
        raise ReservedSource(f"source {source!r} is written by the acquisition pipeline only")
    data = await read_upload(image, state.settings.images.max_bytes)
    state.limits.charge_storage(quota, len(data))
    provenance = {
        "weak_label": label,
        "license": license,
        "attribution": attribution,
        "source_url": source_url,
        "source_id": source_id,
        "user_id": caller.user_id,
    }
    stored = await run_in_threadpool(_store, state, data, source, provenance)
    body = ImageResponse(
        image_id=stored.image_id,
        stored=stored.created,
        duplicate_of=stored.duplicate_of,
        duplicate_kind=stored.duplicate_kind,
        message=_describe(stored),
    )
    return JSONResponse(body.model_dump(), status_code=201 if stored.created else 200)


def _store(
    state: ServerState, data: bytes, source: str, provenance: dict[str, str | None]
) -> StoredPhoto:
    limits = state.settings.images
    photo = intake(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
    return store_photo(
        state.store,
        state.warehouse,
        photo,
        source=source,
        near_duplicate_bits=limits.near_duplicate_bits,
        **provenance,
    )


def _describe(stored: StoredPhoto) -> str:
    if stored.created:
        return "Thanks! The photo was added."
    if stored.duplicate_kind == "near":
        return "We already have a nearly identical photo, so this one was not added."
    return "We already have this photo."
