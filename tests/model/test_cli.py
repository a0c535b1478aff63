"""``creature-vis predict``, ``models`` and ``evaluate`` as a person runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli.main import main
from core.model.calibration import Calibration
from core.model.handle import open_registry
from core.settings import Settings
from tests.model.conftest import SHARED_CACHE

pytestmark = [pytest.mark.model, pytest.mark.datasets]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("CREATURE_VIS_"):
            monkeypatch.delenv(name)
    path = tmp_path / "var"
    path.mkdir()
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    (path / "cache").symlink_to(SHARED_CACHE, target_is_directory=True)
    monkeypatch.setenv("CREATURE_VIS_DATA_DIR", str(path))
    return path


@pytest.fixture
def small_dev_set(tmp_path: Path, animals_dev: Path) -> Path:
    """Four photos of each of three labels, linked from animals-dev."""
    root = tmp_path / "dev"
    for label in ("zebra", "bird", "giraffe"):
        (root / label).mkdir(parents=True)
        for photo in sorted((animals_dev / label).glob("*.jpg"))[:4]:
            (root / label / photo.name).symlink_to(photo)
    return root


def test_predict_prints_top3(
    data_dir: Path, animals_dev: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zebra = sorted((animals_dev / "zebra").glob("*.jpg"))[0]
    assert main(["predict", str(zebra)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith(str(zebra)))
    assert line.split(": ", 1)[1].startswith("zebra ")
    assert len(line.split(", ")) == 3
    assert "model version: v0" in out


def test_predict_reports_unreadable_photo(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    assert main(["predict", str(text)]) == 1
    assert "not an image" in capsys.readouterr().err


def test_models_lists_and_marks_production(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    v0 = next(line for line in out.splitlines() if line.startswith("* v0 "))
    assert "taxonomy" in v0 and "built in" in v0 and "1970" not in v0
    assert main(["models", "--rollback"]) == 1
    assert "no previous" in capsys.readouterr().err


def test_evaluate_json(
    data_dir: Path, small_dev_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", str(small_dev_set), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_version"] == "v0"
    assert result["per_label"]["giraffe"] == 0.0
    assert result["per_label"]["zebra"] == 1.0
    assert result["per_label"]["dog"] is None
    assert 0.5 <= result["accuracy"] <= 0.7
    assert set(result) >= {"accuracy", "macro_f1", "per_label", "model_version"}
    # No round has calibrated v0 yet: raw figures twice, and no answer sets.
    assert result["temperature"] is None and result["conformal"] is None
    assert result["ece"]["raw"] == result["ece"]["calibrated"] > 0
    assert result["nll"]["raw"] > 0
    registry = open_registry(Settings())
    registry.calibrate("v0", Calibration(2.0, 0.3, 0.4, 0.9, 50, "test-1"))
    assert main(["evaluate", str(small_dev_set), "--json"]) == 0
    calibrated = json.loads(capsys.readouterr().out)
    assert calibrated["accuracy"] == result["accuracy"]  # a temperature keeps the top label
    assert calibrated["temperature"] == 2.0
    assert calibrated["ece"]["raw"] == result["ece"]["raw"] != calibrated["ece"]["calibrated"]
    sets = calibrated["conformal"]
    assert sets["target"] == 0.9 and 1 <= sets["mean_set_size"] <= 3
    assert set(sets) >= {"coverage", "singleton_share", "singleton_accuracy"}


def test_evaluate_text_report(
    data_dir: Path, small_dev_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", str(small_dev_set), "--model", "v0"]) == 0
    out = capsys.readouterr().out
    assert "accuracy:" in out
    assert "macro-F1:" in out
    assert "confusion matrix" in out
    assert "ECE raw" in out and "NLL raw" in out
    assert main(["evaluate", str(small_dev_set), "--model", "v42"]) == 1
