"""The warehouse schema, defined once: DuckDB DDL, BigQuery tables and Terraform derive from it.

Types are BigQuery's. Every table has a key (the columns that make a row unique), which makes
inserts idempotent: a redelivered task writes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STRING, INT64, FLOAT64, BOOL, TIMESTAMP = "STRING", "INT64", "FLOAT64", "BOOL", "TIMESTAMP"


@dataclass(frozen=True)
class Column:
    """One column: BigQuery type, mode and a description."""

    name: str
    type: str
    required: bool = False
    description: str = ""

    @property
    def mode(self) -> str:
        """BigQuery column mode."""
        return "REQUIRED" if self.required else "NULLABLE"


@dataclass(frozen=True)
class Table:
    """A warehouse table: columns, key, and the day-partitioning column."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition: str = "created_at"
    clustering: tuple[str, ...] = field(default=())

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name}")


def _c(name: str, type_: str, description: str, *, required: bool = False) -> Column:
    return Column(name, type_, required, description)


_CREATED = _c("created_at", TIMESTAMP, "When the row was written (UTC).", required=True)

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            "interactions",
            "One prediction shown to a person.",
            (
                _c("interaction_id", STRING, "Id given to the person.", required=True),
                _CREATED,
                _c("user_id", STRING, "Who asked (telegram:<id>, web:<session>)."),
                _c("channel", STRING, "telegram, web or api.", required=True),
                _c("chat_id", STRING, "Telegram chat, when there is one."),
                _c("image_id", STRING, "sha256 of the photo.", required=True),
                _c("model_version", STRING, "Version that predicted.", required=True),
                _c("predicted_label", STRING, "Top-1 label.", required=True),
                _c("predicted_probability", FLOAT64, "Top-1 probability."),
                _c("top3_json", STRING, "Top 3 as a JSON list of [label, probability]."),
                _c("probabilities_json", STRING, "All 16 probabilities as JSON."),
                _c("latency_ms", FLOAT64, "Time to predict, ms."),
                _c("shadow_version", STRING, "Staging version predicting in shadow."),
                _c("shadow_label", STRING, "Staging version's top-1 label."),
                _c("answer_json", STRING, "Labels shown as the answer (its set) as JSON."),
            ),
            key=("interaction_id",),
            clustering=("model_version",),
        ),
        Table(
            "feedback",
            "Answers from people; append-only, the latest per (interaction, user) counts.",
            (
                _c("feedback_id", STRING, "Unique id of this answer.", required=True),
                _CREATED,
                _c("interaction_id", STRING, "The prediction answered.", required=True),
                _c("user_id", STRING, "Who answered.", required=True),
                _c("is_correct", BOOL, "Whether the prediction was right.", required=True),
                _c("label", STRING, "The right label according to the answer.", required=True),
                _c("predicted_label", STRING, "What the model said."),
                _c("model_version", STRING, "Version that predicted."),
                _c("channel", STRING, "telegram, web or api."),
                _c("is_admin", BOOL, "Answer by an admin (trusted)."),
            ),
            key=("feedback_id",),
        ),
        Table(
            "images",
            "Every stored photo, from people or from photo APIs.",
            (
                _c("image_id", STRING, "sha256 of the original bytes.", required=True),
                _CREATED,
                _c("phash", STRING, "64-bit perceptual hash, hex.", required=True),
                _c("storage_key", STRING, "Key in the ImageStore.", required=True),
                _c("content_type", STRING, "MIME type."),
                _c("width", INT64, "Pixels."),
                _c("height", INT64, "Pixels."),
                _c("size_bytes", INT64, "Bytes."),
                _c("source", STRING, "telegram, web, upload, unsplash, pexels, simulate."),
                _c("source_id", STRING, "Id at the source."),
                _c("source_url", STRING, "Page of the photo at the source."),
                _c("license", STRING, "Licence of the photo."),
                _c("attribution", STRING, "Credit line the source requires."),
                _c("user_id", STRING, "Who sent it, for people's photos."),
                _c("weak_label", STRING, "Label implied by the source (query, uploader)."),
            ),
            key=("image_id",),
            clustering=("source",),
        ),
        Table(
            "model_versions",
            "Model versions and their life events (created, promoted, refused, rolled back).",
            (
                _c("version", STRING, "Model version id.", required=True),
                _c("status", STRING, "created, promoted, refused, rolled_back.", required=True),
                _CREATED,
                _c("parent_version", STRING, "Version it was trained from."),
                _c("dataset_version", STRING, "Dataset it was trained on."),
                _c("code_version", STRING, "Code revision that built it."),
                _c("accuracy", FLOAT64, "Held-out accuracy."),
                _c("macro_f1", FLOAT64, "Held-out macro-F1."),
                _c("average_accuracy", FLOAT64, "Mean accuracy over dataset versions."),
                _c("backward_transfer", FLOAT64, "BWT: mean change on earlier versions' examples."),
                _c("metrics_json", STRING, "All metrics as JSON."),
                _c("reason", STRING, "Why it was promoted or refused."),
            ),
            key=("version", "status", "created_at"),
        ),
        Table(
            "dataset_versions",
            "Frozen dataset versions (their manifests live in the ImageStore).",
            (
                _c("version", STRING, "Dataset version id.", required=True),
                _CREATED,
                _c("parent_version", STRING, "Previous version."),
                _c("manifest_key", STRING, "ImageStore key of the manifest.", required=True),
                _c("kind", STRING, "train or test.", required=True),
                _c("n_examples", INT64, "Examples in the version."),
                _c("counts_json", STRING, "Examples per label as JSON."),
            ),
            key=("version",),
        ),
        Table(
            "retrain_events",
            "Every retrain check, firing, training run, promotion and refusal.",
            (
                _c("event_id", STRING, "Unique id.", required=True),
                _CREATED,
                _c(
                    "kind",
                    STRING,
                    "check, train, promote, refuse, rollback, failed.",
                    required=True,
                ),
                _c("fired", BOOL, "For checks: whether a rule fired."),
                _c("rule", STRING, "Rule that fired, or why none did."),
                _c("model_version", STRING, "Model concerned."),
                _c("dataset_version", STRING, "Dataset concerned."),
                _c("details_json", STRING, "Measured values as JSON."),
            ),
            key=("event_id",),
        ),
        Table(
            "api_keys",
            "API keys an admin issued and revoked; append-only: an issue row, later a revoke row.",
            (
                _c(
                    "key_id",
                    STRING,
                    "Public id of the key; callers answer as key:<key_id>.",
                    required=True,
                ),
                _c("event", STRING, "issued or revoked.", required=True),
                _CREATED,
                _c("key_hash", STRING, "sha256 of the key (issue rows); the key is not kept."),
                _c("note", STRING, "Whom the key is for (issue rows)."),
                _c("operator", STRING, "Who issued or revoked it."),
                _c("role", STRING, "person, or admin: an admin's answers are trusted outright."),
            ),
            key=("key_id", "event"),
        ),
        Table(
            "metric_points",
            "Custom metrics recorded locally (Cloud Monitoring's twin).",
            (
                _c("point_id", STRING, "Unique id (idempotency key).", required=True),
                _CREATED,
                _c("metric", STRING, "Metric name.", required=True),
                _c("value", FLOAT64, "Value.", required=True),
                _c("labels_json", STRING, "Metric labels as JSON."),
            ),
            key=("point_id",),
            clustering=("metric",),
        ),
    )
}
