from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import Profile, Settings, load_settings, settings_table

REPO = Path(__file__).resolve().parents[2]


def test_local_profile_is_the_default(settings: Settings) -> None:
    assert settings.profile is Profile.LOCAL
    assert settings.storage.backend == "local"
    assert settings.warehouse.backend == "duckdb"
    assert settings.redis.url is None
    assert settings.warehouse_path.parent == settings.data_dir


def test_nested_sections_come_from_prefixed_variables(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREATURE_VIS_SERVER__PORT", "9123")
    monkeypatch.setenv("CREATURE_VIS_BOT__ADMIN_IDS", "[1, 2]")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    loaded = load_settings()
    assert loaded.server.port == 9123
    assert loaded.bot.admin_ids == [1, 2]
    assert loaded.redis.url == "redis://127.0.0.1:6379/3"
    assert loaded.bot.token is not None
    assert loaded.bot.token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(loaded)


def test_missing_required_value_names_the_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREATURE_VIS_PROFILE", "gcp")
    with pytest.raises(ConfigurationError, match="CREATURE_VIS_GCP__PROJECT is required"):
        load_settings()
    monkeypatch.setenv("CREATURE_VIS_GCP__PROJECT", "demo")
    monkeypatch.setenv("CREATURE_VIS_STORAGE__BACKEND", "gcs")
    with pytest.raises(ConfigurationError, match="CREATURE_VIS_STORAGE__BUCKET is required"):
        load_settings()


def test_placeholder_secrets_are_refused_outside_local(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREATURE_VIS_BOT__WEBHOOK_SECRET", "changeme")
    assert load_settings().bot.webhook_secret is not None  # fine on a laptop
    monkeypatch.setenv("CREATURE_VIS_PROFILE", "gcp")
    monkeypatch.setenv("CREATURE_VIS_GCP__PROJECT", "demo")
    with pytest.raises(
        ConfigurationError, match="CREATURE_VIS_BOT__WEBHOOK_SECRET holds a placeholder"
    ):
        load_settings()
    monkeypatch.setenv("CREATURE_VIS_BOT__WEBHOOK_SECRET", "s3cr3t-from-secret-manager")
    assert load_settings().profile is Profile.GCP


def test_invalid_value_names_the_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREATURE_VIS_IMAGES__MAX_BYTES", "-5")
    with pytest.raises(ConfigurationError, match="CREATURE_VIS_IMAGES__MAX_BYTES"):
        load_settings()


def test_readme_configuration_table_matches_settings() -> None:
    readme = (REPO / "README.md").read_text()
    table = settings_table()
    assert table in readme, (
        "README's configuration table is stale: run `creature-vis config --table`"
    )
    for name in Settings.model_fields:
        assert f"CREATURE_VIS_{name.upper()}" in table


def test_every_conventional_name_is_read_from_dot_env_and_the_environment_wins(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123:from-file\n"
        "REDIS_URL=redis://127.0.0.1:6390/2\n"
        "AIP_MODEL_DIR=/tmp/model-from-file\n"
        "CREATURE_VIS_SERVER__PORT=9124\n"
    )
    loaded = load_settings()
    assert loaded.bot.token is not None
    assert loaded.bot.token.get_secret_value() == "123:from-file"
    assert loaded.redis.url == "redis://127.0.0.1:6390/2"
    assert loaded.training.model_dir == "/tmp/model-from-file"
    assert loaded.server.port == 9124

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:from-env")
    monkeypatch.setenv("CREATURE_VIS_SERVER__PORT", "9125")
    loaded = load_settings()
    assert loaded.bot.token is not None
    assert loaded.bot.token.get_secret_value() == "123:from-env"
    assert loaded.server.port == 9125
    assert loaded.redis.url == "redis://127.0.0.1:6390/2"


def test_a_nested_name_beats_its_conventional_name_in_the_same_place(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "REDIS_URL=redis://127.0.0.1:6390/2\nCREATURE_VIS_REDIS__URL=redis://127.0.0.1:6391/1\n"
    )
    assert load_settings().redis.url == "redis://127.0.0.1:6391/1"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6392/0")
    assert load_settings().redis.url == "redis://127.0.0.1:6392/0"  # the environment wins
    monkeypatch.setenv("CREATURE_VIS_REDIS__URL", "redis://127.0.0.1:6393/0")
    assert load_settings().redis.url == "redis://127.0.0.1:6393/0"
