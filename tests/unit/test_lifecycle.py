"""Every move of the production pointer leaves its audit rows, whoever makes it."""

from __future__ import annotations

import pytest

from cli.main import main
from core.model.handle import open_registry
from core.settings import Settings
from core.warehouse import open_warehouse
from tests.integration.server_support import save_constant_head


def audit(settings: Settings) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    warehouse = open_warehouse(settings)
    versions = warehouse.query("SELECT version, status FROM model_versions ORDER BY created_at")
    events = warehouse.query("SELECT kind, model_version FROM retrain_events ORDER BY created_at")
    return (
        [(row["version"], row["status"]) for row in versions],
        [(row["kind"], row["model_version"]) for row in events],
    )


def test_the_models_command_promotes_and_rolls_back_with_audit_rows(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    save_constant_head(settings, "zebra", version="v1")
    assert main(["models", "--promote", "v1"]) == 0
    assert open_registry(settings).production() == "v1"
    assert main(["models", "--rollback"]) == 0
    assert open_registry(settings).production() == "v0"
    assert "production: v0" in capsys.readouterr().out
    versions, events = audit(settings)
    assert versions == [("v1", "promoted"), ("v0", "promoted")]
    assert events == [("promote", "v1"), ("rollback", "v0")]
    reasons = open_warehouse(settings).query("SELECT rule FROM retrain_events")
    assert all(
        str(row["rule"]).startswith(("promoted by cli", "rollback by cli")) for row in reasons
    )
