"""Offline checks of infra/: formatting, parsing, checkov, and the ties between Terraform and code.

No provider plugins can be downloaded here, so `terraform validate`/`plan` run only in CI
(.github/workflows); these tests pin everything that can be checked without them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hcl2
import pytest
import yaml

from cli.commands import infra as infra_command
from core.model.registry import PREFIX as MODELS_PREFIX
from core.photos import photo_key
from core.settings import ENV_PREFIX, NESTED, Settings
from retraining.datasets import PREFIX as DATASETS_PREFIX
from tests.conftest import REPO

INFRA = REPO / "infra"
MODULES = INFRA / "modules"
TF_FILES = sorted(INFRA.rglob("*.tf")) + sorted(INFRA.rglob("*.tfvars"))
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CONVENTIONAL = {"REDIS_URL", "TELEGRAM_BOT_TOKEN"}


def _value(raw: Any) -> Any:
    """Strip python-hcl2's quotes from strings, recursively."""
    if isinstance(raw, str) and len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    if isinstance(raw, dict):
        return {_value(k): _value(v) for k, v in raw.items() if not k.startswith("__")}
    if isinstance(raw, list):
        return [_value(item) for item in raw]
    return raw


def _load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        loaded: dict[str, Any] = _value(hcl2.load(handle))
        return loaded


def _variables(path: Path) -> dict[str, dict[str, Any]]:
    return {name: body for block in _load(path)["variable"] for name, body in block.items()}


def _modules(path: Path) -> dict[str, dict[str, Any]]:
    return {name: body for block in _load(path)["module"] for name, body in block.items()}


def test_terraform_fmt_is_clean() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed (CI's workflow runs `terraform fmt -check`)")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_file_parses(path: Path) -> None:
    assert _load(path)


def test_checkov_passes_with_every_skip_justified() -> None:
    for path in INFRA.rglob("*.tf"):
        for skip in re.findall(r"#checkov:skip=.*", path.read_text()):
            assert re.fullmatch(r"#checkov:skip=CKV2?_GCP_\d+:.{40,}", skip), f"{path}: {skip}"
    if not CHECKOV.exists():
        pytest.skip("checkov is not installed: run `make delivery-tools` (it makes .venv-checkov)")
    result = subprocess.run(
        [str(CHECKOV), "-d", str(INFRA), "--framework", "terraform", "--skip-download",
         "--compact", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout


def test_bigquery_schemas_are_the_ones_the_code_generates() -> None:
    assert infra_command.stale_files(REPO) == []
    args = argparse.Namespace(check=True, root=REPO)
    assert infra_command.run(args, Settings()) == 0


def test_schema_check_reports_drift(tmp_path: Path) -> None:
    assert infra_command.write_files(tmp_path)
    schema = tmp_path / infra_command.WAREHOUSE_MODULE / "schemas" / "feedback.json"
    schema.write_text(schema.read_text().replace("REQUIRED", "NULLABLE"))
    (schema.parent / "dropped_table.json").write_text("[]\n")
    assert infra_command.stale_files(tmp_path) == [schema.parent / "dropped_table.json", schema]
    assert infra_command.run(argparse.Namespace(check=True, root=tmp_path), Settings()) == 1
    infra_command.write_files(tmp_path)
    assert infra_command.stale_files(tmp_path) == []


def test_warehouse_module_builds_its_tables_from_the_generated_files() -> None:
    text = (MODULES / "warehouse" / "main.tf").read_text()
    assert 'file("${path.module}/tables.json")' in text
    assert 'file("${path.module}/schemas/${each.key}.json")' in text


def test_defaults_match_the_settings_defaults() -> None:
    defaults = Settings()
    variables = _variables(MODULES / "stack" / "variables.tf")
    assert variables["region"]["default"] == defaults.gcp.region
    assert variables["warehouse_dataset"]["default"] == defaults.warehouse.dataset
    assert variables["warehouse_location"]["default"] == defaults.warehouse.location
    influx = variables["influx"]["default"]
    assert (influx["org"], influx["bucket"]) == (
        defaults.monitoring.influx_org,
        defaults.monitoring.influx_bucket,
    )


def test_bucket_lifecycle_prefixes_are_the_ones_the_code_writes() -> None:
    prefixes = _variables(MODULES / "storage" / "main.tf")["prefixes"]["default"]
    sample = SimpleNamespace(sha256="ab" * 32, extension="jpg")
    assert prefixes["images"] == photo_key(sample).split("/")[0] + "/"  # type: ignore[arg-type]
    assert prefixes["models"] == f"{MODELS_PREFIX}/"
    assert prefixes["datasets"] == f"{DATASETS_PREFIX}/"


def _service_environment() -> dict[str, str]:
    stack = MODULES / "stack"
    local = _load(stack / "main.tf")["locals"][0]
    env: dict[str, str] = {**local["common_env"], **local["redis_env"]}
    for module in _modules(stack / "services.tf").values():
        for key in ("env", "secret_env"):
            found = re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", str(module.get(key, "")))
            env.update(dict.fromkeys(found, "?"))
    return env


def test_cloud_run_sets_only_real_settings_and_the_data_bucket() -> None:
    env = _service_environment()
    assert env["CREATURE_VIS_STORAGE__BUCKET"] == "${module.storage.name}"
    assert env["CREATURE_VIS_WAREHOUSE__DATASET"] == "${module.warehouse.dataset_id}"
    assert {"REDIS_URL", "TELEGRAM_BOT_TOKEN", "CREATURE_VIS_BOT__WEBHOOK_SECRET"} <= set(env)
    for variable in set(env) - CONVENTIONAL:
        assert variable.startswith(ENV_PREFIX), variable
        section, _, field = variable.removeprefix(ENV_PREFIX).lower().partition(NESTED)
        assert section in Settings.model_fields, variable
        if field:
            annotation = Settings.model_fields[section].annotation
            assert field in annotation.model_fields, variable  # type: ignore[union-attr]


def test_worker_and_beat_run_the_components_behind_the_probe() -> None:
    services = _modules(MODULES / "stack" / "services.tf")
    dockerfile = (REPO / "docker" / "worker.Dockerfile").read_text()
    assert "COPY docker/probe.py /app/probe.py" in dockerfile
    for name, component in (("worker", "workers worker"), ("beat", "workers beat"),
                            ("training", "retraining worker")):  # fmt: skip
        command = services[name]["command"]
        assert command[:5] == ["python", "/app/probe.py", "serve", "--port", "8080"]
        assert command[5:] == ["--", "python", "-m", *component.split()]


def _settings_passed(module: dict[str, Any]) -> dict[str, str]:
    """The settings a module call passes in ``env`` (common_env aside), name to expression."""
    return dict(re.findall(r"\b([A-Z][A-Z0-9_]+) = ([^,}]+)", str(module["env"])))


def test_the_server_runs_its_model_on_every_cpu_it_is_given() -> None:
    server = _modules(MODULES / "stack" / "services.tf")["server"]
    threads = _settings_passed(server)["CREATURE_VIS_MODEL__THREADS"]
    assert threads == "tostring(local.server_cpus)"
    assert server["resources"]["cpu"] == "${tostring(local.server_cpus)}"


def test_the_bot_keeps_its_cpu_and_takes_its_admins_from_terraform() -> None:
    bot = _modules(MODULES / "stack" / "services.tf")["bot"]
    assert bot["always_on"] is True  # PTB handles the update after answering the webhook
    assert _settings_passed(bot)["CREATURE_VIS_BOT__ADMIN_IDS"] == "jsonencode(var.bot_admin_ids)"
    for env in ("dev", "prod"):
        (call,) = _modules(REPO / "infra" / "envs" / env / "main.tf").values()
        assert call["bot_admin_ids"] == "${var.bot_admin_ids}"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert "CREATURE_VIS_BOT__ADMIN_IDS" in compose["services"]["bot"]["environment"]


def test_the_training_queue_has_a_consumer_that_trains_on_vertex_as_the_training_account() -> None:
    services = _modules(MODULES / "stack" / "services.tf")
    training = services["training"]
    assert training["image"] == "${local.images.worker}"
    assert training["scaling"] == {"min": 1, "max": 1}
    assert training["always_on"] is True  # a Celery consumer: CPU outside requests
    env = _settings_passed(training)
    assert env == {
        "CREATURE_VIS_TRAINING__BACKEND": '"vertex"',
        "CREATURE_VIS_GCP__VERTEX_IMAGE": "local.images.worker",
        "CREATURE_VIS_GCP__TRAINING_SERVICE_ACCOUNT": 'local.emails["training"]',
    }
    assert "local.common_env" in str(training["env"])
    assert str(training["secret_env"]) == "${local.redis_env}"  # REDIS_URL only
    # It submits jobs that run as the training account, so its own account (retrain) may act
    # as that; nothing else may, and only it may start Vertex AI jobs.
    assert training["service_account"] == '${local.emails["retrain"]}'
    iam = _load(MODULES / "iam" / "main.tf")
    kind = "google_service_account_iam_member"
    grants = [body for block in iam["resource"] for body in block.get(kind, {}).values()]
    training_account = '${google_service_account.workloads["training"].name}'
    act_as = [{k: v for k, v in grant.items() if not k.startswith("__")} for grant in grants
              if grant["service_account_id"] == training_account]  # fmt: skip
    assert act_as == [{
        "service_account_id": training_account,
        "role": "roles/iam.serviceAccountUser",
        "member": '${google_service_account.workloads["retrain"].member}',
    }]  # fmt: skip
    workloads = iam["locals"][0]["workloads"]
    vertex = sorted(n for n, roles in workloads.items() if any("aiplatform" in r for r in roles))
    assert vertex == ["retrain"]
    # Nothing else trains: the inference worker neither submits jobs nor says where to.
    assert "TRAINING" not in str(services["worker"].get("env", ""))


def test_environments_share_the_stack_with_their_own_state() -> None:
    prefixes = set()
    for env in ("dev", "prod"):
        folder = INFRA / "envs" / env
        module = _modules(folder / "main.tf")["creature_vis"]
        assert module["source"] == "../../modules/stack"
        assert module["environment"] == env
        backend = _load(folder / "versions.tf")["terraform"][0]["backend"][0]["gcs"]
        assert "bucket" not in backend  # given at init: no project-specific name committed
        prefixes.add(backend["prefix"])
    assert len(prefixes) == 2
    assert _load(INFRA / "envs" / "prod" / "terraform.tfvars")["deletion_protection"] is True


def test_github_can_only_impersonate_ci_accounts_from_this_repository() -> None:
    iam = _load(MODULES / "iam" / "main.tf")
    subjects = iam["locals"][0]["ci_subjects"]
    assert set(subjects) == {"planner", "publisher", "deployer"}
    for subject in subjects.values():
        assert subject.startswith("repo:${var.github_repository}:")
    assert subjects["deployer"].endswith(":environment:${var.deploy_environment}")
