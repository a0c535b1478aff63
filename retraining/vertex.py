"""Training as a Vertex AI custom job, and the artifacts the training entry point writes.

The job runs this package's container entry (``python -m retraining train ...``) on one
machine. Vertex sets ``AIP_MODEL_DIR`` to ``<base_output_dir>/model/`` inside the container;
the entry writes ``head.npz`` and ``training.json`` there, and the caller reads them back
through the ImageStore (the output directory is under the store's bucket and prefix).
The container gets the caller's own settings for what it reads (``job_environment``), so it
opens the same bucket, dataset and backbone, and runs as the training service account.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigurationError, ModelArtifactError
from core.manifests import Manifest
from core.model.classifier import Head
from core.settings import Settings, env_name
from core.storage import ImageStore

HEAD_FILE = "head.npz"
INFO_FILE = "training.json"
OUTPUT_PREFIX = "training"
# What the container entry reads besides its arguments: where the store, the warehouse and
# the project are, which backbone computes the features (their cache key), how to train.
# Never the caller's training.model_dir: Vertex AI sets AIP_MODEL_DIR from base_output_dir,
# and a CREATURE_VIS_ name would beat it.
JOB_SETTINGS: tuple[tuple[str | None, str], ...] = (
    (None, "profile"),
    ("storage", "backend"),
    ("storage", "bucket"),
    ("storage", "prefix"),
    ("warehouse", "backend"),
    ("warehouse", "dataset"),
    ("warehouse", "location"),
    ("gcp", "project"),
    ("gcp", "region"),
    ("model", "backbone_source"),
    ("model", "weights_wheel"),
    ("model", "hub_handle"),
    ("training", "steps"),
    ("training", "learning_rate"),
    ("training", "anchor"),
    ("training", "anchor_unknown"),
    ("training", "balance_power"),
    ("training", "replay_fraction"),
    ("training", "other_folds"),
    ("training", "other_margin"),
)


def job_environment(settings: Settings) -> list[dict[str, str]]:
    """Return the container's environment: these settings, as the variables that set them."""
    env = []
    for section, name in JOB_SETTINGS:
        value = getattr(settings if section is None else getattr(settings, section), name)
        if value is not None and value != "":
            env.append({"name": env_name(section, name), "value": str(value)})
    return env


def job_spec(
    settings: Settings,
    *,
    dataset_version: str,
    parent_version: str,
    job_name: str,
    output_uri: str,
    staging_uri: str,
) -> dict[str, Any]:
    """Return the CustomJob arguments: one worker pool running the training entry point."""
    if not settings.gcp.vertex_image or not settings.gcp.project:
        raise ConfigurationError(
            f"Vertex training needs {env_name('gcp', 'vertex_image')} and "
            f"{env_name('gcp', 'project')}"
        )
    if settings.storage.backend != "gcs":
        # The job reads the frozen dataset from the store and writes the head back to it.
        raise ConfigurationError(
            f"Vertex training needs {env_name('storage', 'backend')}=gcs: a job cannot reach "
            "this machine's directory"
        )
    args = ["train", "--dataset-version", dataset_version, "--parent-version", parent_version]
    return {
        "display_name": f"creature-vis-{job_name}",
        "worker_pool_specs": [
            {
                "machine_spec": {"machine_type": settings.training.vertex_machine_type},
                "replica_count": 1,
                "container_spec": {
                    "image_uri": settings.gcp.vertex_image,
                    "command": ["python", "-m", "retraining"],
                    "args": args,
                    "env": job_environment(settings),
                },
            }
        ],
        "base_output_dir": output_uri,
        "staging_bucket": staging_uri,
        "project": settings.gcp.project,
        "location": settings.gcp.region,
        "labels": {"app": "creature-vis", "dataset": dataset_version.lower()},
    }


def vertex_trainer(
    store: ImageStore, settings: Settings, train: Manifest, parent: str, credentials: Any = None
) -> Head:
    """Train on Vertex AI: submit the job, wait for it, read the head it wrote."""
    try:
        from google.cloud import aiplatform
    except ImportError as exc:
        raise ConfigurationError(
            f"{env_name('training', 'backend')}=vertex needs Vertex AI's client: "
            "pip install 'creature-vis[vertex]'"
        ) from exc

    if not settings.gcp.training_service_account:
        raise ConfigurationError(
            f"{env_name('training', 'backend')}=vertex needs "
            f"{env_name('gcp', 'training_service_account')}: without it the job would run as "
            "the project's default compute account, not the training account Terraform grants"
        )
    job_name = f"{train.version}-from-{parent}".lower()
    output_key = f"{OUTPUT_PREFIX}/{job_name}"
    spec = job_spec(settings, dataset_version=train.version, parent_version=parent,
                    job_name=job_name, output_uri=store.uri(output_key),
                    staging_uri=store.uri("vertex-staging"))  # fmt: skip
    job = aiplatform.CustomJob(**spec, credentials=credentials)
    job.submit(service_account=settings.gcp.training_service_account)
    job.wait_for_completion()
    return read_head(store.get(f"{output_key}/model/{HEAD_FILE}"))


def head_bytes(head: Head) -> bytes:
    """Serialise a head as the training entry point writes it."""
    buffer = io.BytesIO()
    np.savez(buffer, weights=head.weights, bias=head.bias)
    return buffer.getvalue()


def read_head(data: bytes) -> Head:
    """Read a head written by the training entry point."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return Head(weights=arrays["weights"], bias=arrays["bias"])
    except (OSError, KeyError, ValueError) as exc:
        raise ModelArtifactError(f"unreadable trained head: {exc}") from exc


def write_artifacts(output: str, head: Head, info: dict[str, Any]) -> list[str]:
    """Write the head and its training facts to a directory or ``gs://`` prefix."""
    files = {HEAD_FILE: head_bytes(head), INFO_FILE: json.dumps(info, indent=1).encode()}
    written = []
    if output.startswith("gs://"):
        from google.cloud import storage  # type: ignore[attr-defined]

        bucket_name, _, prefix = output.removeprefix("gs://").partition("/")
        bucket = storage.Client().bucket(bucket_name)
        for name, data in files.items():
            blob_name = f"{prefix.rstrip('/')}/{name}" if prefix else name
            bucket.blob(blob_name).upload_from_string(data)
            written.append(f"gs://{bucket_name}/{blob_name}")
        return written
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
        written.append(str(folder / name))
    return written
