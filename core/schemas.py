"""Pydantic messages that cross process boundaries (Celery payloads, HTTP bodies)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from core.labels import VALID_LABELS
from core.model.preprocess import PACKED_INPUT_CHARS

Channel = Literal["telegram", "web", "api", "simulate"]


class LabelScore(BaseModel):
    """A label and its probability."""

    label: str
    probability: float = Field(ge=0, le=1)


class ClassifyRequest(BaseModel):
    """Ask a worker to classify a photo and log the interaction.

    The caller chooses ``interaction_id``, so a redelivered task logs nothing twice. A caller
    that has decoded the photo already sends the model input (``pixels``, from
    ``core.model.preprocess.pack_input``) and the worker skips reading and decoding it;
    without it the worker reads the stored photo ``image_id``.
    """

    interaction_id: str = Field(min_length=8, max_length=64)
    image_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    channel: Channel
    user_id: str | None = None
    chat_id: str | None = None
    pixels: str | None = Field(None, max_length=PACKED_INPUT_CHARS)


class ClassifyResult(BaseModel):
    """What a worker returns for a ClassifyRequest."""

    interaction_id: str
    image_id: str
    model_version: str
    top3: list[LabelScore]
    latency_ms: float
    # The labels to show (the version's answer set); empty from an older worker: the top one.
    answer_set: list[str] = Field(default_factory=list)


class FeedbackRequest(BaseModel):
    """A person's answer to a prediction: correct, or the right label."""

    interaction_id: str = Field(min_length=1, max_length=64)
    user_id: str
    correct: bool
    label: str | None = None
    is_admin: bool = False
    channel: Channel | None = None
    feedback_id: str | None = None

    @field_validator("label")
    @classmethod
    def _known_label(cls, value: str | None) -> str | None:
        if value is not None and value not in VALID_LABELS:
            raise ValueError(f"label must be one of {', '.join(VALID_LABELS)}")
        return value
