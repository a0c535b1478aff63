"""Bodies of the HTTP API (published in the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.schemas import LabelScore


class ErrorResponse(BaseModel):
    """Every error: a stable code and a sentence a person can read."""

    error: str = Field(examples=["not_an_image"])
    message: str


class PredictionResponse(BaseModel):
    """The top 3 for one uploaded photo."""

    interaction_id: str
    image_id: str
    model_version: str
    top3: list[LabelScore]
    answer: list[str] = Field(
        description="The labels to show: the top one, or the two or three the model cannot "
        "tell apart (its conformal prediction set), most probable first."
    )
    latency_ms: float = Field(description="From receiving the photo to the prediction, ms.")


class FeedbackBody(BaseModel):
    """An answer: the prediction was correct, or the right label is one of the 16."""

    interaction_id: str = Field(min_length=1, max_length=64)
    correct: bool | None = Field(None, description="True when the top prediction was right.")
    label: str | None = Field(None, max_length=32, description="The right label, if wrong.")
    user_id: str | None = Field(
        None,
        max_length=64,
        deprecated=True,
        description="Refused (422 `user_id_not_accepted`): a body cannot say who answers. "
        "Send an API key (`Authorization: Bearer <key>` or `X-API-Key`) to answer as a "
        "person; without one the answer is anonymous.",
    )


class FeedbackResponse(BaseModel):
    """The recorded answer."""

    feedback_id: str
    interaction_id: str
    is_correct: bool
    label: str
    predicted_label: str
    message: str


class ImageResponse(BaseModel):
    """A photo added for training, or the copy we already hold."""

    image_id: str
    stored: bool
    duplicate_of: str | None = None
    duplicate_kind: str | None = Field(None, description="`exact` or `near`.")
    message: str


class LabelInfo(BaseModel):
    """One of the 16 labels."""

    label: str
    display_name: str
    phrase: str = Field(description='How a guess reads: "a dog", "an elephant".')
    index: int


class LabelsResponse(BaseModel):
    """The fixed label set, in model output order."""

    labels: list[LabelInfo]


class ModelVersionInfo(BaseModel):
    """A model version: its evaluation and where it came from."""

    version: str
    kind: str
    created_at: str | None = Field(
        description="When a run created it (ISO 8601); null for model v0, built into the code."
    )
    parent_version: str | None
    dataset_version: str | None
    metrics: dict[str, Any]
    production: bool


class ModelResponse(BaseModel):
    """The production model, what the server is serving, and the history of versions."""

    production: ModelVersionInfo | None
    serving: str | None = Field(description="The version this server is answering with.")
    history: list[ModelVersionInfo]


class FeedbackCounts(BaseModel):
    """Feedback answers that count (the latest per person and prediction)."""

    total: int
    correct: int
    incorrect: int
    accuracy: float | None


class VersionFeedback(BaseModel):
    """Feedback accuracy of one model version."""

    version: str
    total: int
    accuracy: float | None


class EstimateBounds(BaseModel):
    """An estimated accuracy and its 95% bootstrap interval."""

    value: float
    low: float
    high: float


class EstimatedAccuracyInfo(BaseModel):
    """Production's accuracy estimated without labels, over its latest predictions."""

    version: str
    calibrated: bool = Field(
        description="Whether the version has a calibration; until one is fitted no figure is given."
    )
    predictions: int = Field(description="Predictions the estimate reads (at most the window).")
    cbpe: EstimateBounds | None = Field(description="Mean calibrated top probability.")
    atc: EstimateBounds | None = Field(
        description="Share of predictions whose top probability is at least the threshold."
    )
    threshold: float | None = Field(description="The version's ATC confidence threshold.")


class AnswerTrust(BaseModel):
    """The last week's answers by how far their label is believed (``core.trust``)."""

    trusted: int
    down_weighted: int
    refused: int


class StatusResponse(BaseModel):
    """What the status view shows."""

    model: ModelResponse
    feedback: FeedbackCounts
    feedback_by_version: list[VersionFeedback]
    estimated_accuracy: EstimatedAccuracyInfo
    predictions: int
    answers_this_week: AnswerTrust
    key_figures: dict[str, Any] = Field(
        description="Last 24 h and rolling accuracy, as `creature-vis status` shows them"
    )


class HealthResponse(BaseModel):
    """Liveness or readiness."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class ForgetResponse(BaseModel):
    """What "Forget me" deleted."""

    photos: int = Field(description="Photos deleted from the store.")
    predictions: int = Field(description="Predictions deleted.")
    answers: int = Field(description="Answers deleted.")
    message: str
