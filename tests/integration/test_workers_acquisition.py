"""Photo acquisition against local fakes of Unsplash and Pexels (their documented formats).

The acquisition logic runs in-process here (the worker path is covered in
test_workers_tasks); photos land in a real store and DuckDB warehouse.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from core.images import intake
from core.photos import store_photo
from core.settings import Settings, load_settings
from core.storage import open_store
from core.warehouse import Warehouse, open_warehouse
from tests.conftest import ANIMALS_DEV
from tests.fakes.photo_apis import FakePhotoApis
from workers.clients.pexels import PexelsSource
from workers.clients.photo_api import ApiClient, PhotoSource
from workers.clients.unsplash import UnsplashSource
from workers.services.acquisition import Library, acquire_photos, open_sources

pytestmark = [pytest.mark.datasets, pytest.mark.timeout(120)]
UNSPLASH_KEY, PEXELS_KEY = "u-key", "p-key"


@pytest.fixture
def apis(animals_dev: Any) -> Iterator[FakePhotoApis]:
    fake = FakePhotoApis(ANIMALS_DEV, UNSPLASH_KEY, PEXELS_KEY).start()
    yield fake
    fake.stop()


class Rig:
    """Sources on the fake APIs (sleeps recorded, not slept), a library on a temp dir."""

    def __init__(self, settings: Settings, apis: FakePhotoApis) -> None:
        self.apis = apis
        self.sleeps: list[float] = []
        self.http = httpx.Client(timeout=10)
        self.warehouse: Warehouse = open_warehouse(settings)
        self.store = open_store(settings)
        self.library = Library(self.store, self.warehouse, settings.images)
        unsplash = ApiClient(self.http, "unsplash", sleep=self.sleeps.append)
        pexels = ApiClient(self.http, "pexels", sleep=self.sleeps.append)
        self.sources: list[PhotoSource] = [
            UnsplashSource(unsplash, apis.unsplash_url, UNSPLASH_KEY),
            PexelsSource(pexels, apis.pexels_url, PEXELS_KEY),
        ]

    def run(self, labels: list[str], per_label: int) -> dict[str, Any]:
        return acquire_photos(self.library, self.sources, labels, per_label).as_dict()

    def images(self) -> list[dict[str, Any]]:
        return self.warehouse.query("SELECT * FROM images ORDER BY source, source_id")


@pytest.fixture
def rig(settings: Settings, apis: FakePhotoApis) -> Iterator[Rig]:
    rig = Rig(settings, apis)
    yield rig
    rig.http.close()


def test_photos_are_stored_with_source_licence_attribution_and_weak_label(rig: Rig) -> None:
    report = rig.run(["giraffe", "zebra"], per_label=6)
    assert report["stored"] == 12
    assert report["sources"] == {"unsplash": "ok", "pexels": "ok"}
    rows = rig.images()
    assert len(rows) == 12
    assert sorted({r["weak_label"] for r in rows}) == ["giraffe", "zebra"]
    unsplash = [r for r in rows if r["source"] == "unsplash"]
    pexels = [r for r in rows if r["source"] == "pexels"]
    assert len(unsplash) == 6 and len(pexels) == 6  # the quota is shared
    assert all(r["license"].startswith("Unsplash License") for r in unsplash)
    assert all(r["attribution"].startswith("Photo by Jane Doe (https://unsplash.com/@jane?utm_source=")
               for r in unsplash)  # fmt: skip
    assert all(r["source_url"].startswith("https://unsplash.com/photos/") for r in unsplash)
    assert all(r["license"].startswith("Pexels License") for r in pexels)
    assert all("Max Mustermann" in r["attribution"] for r in pexels)
    # Unsplash is told about every download, as its API guidelines require.
    tracked = {h.path.split("/")[3] for h in rig.apis.hits("/unsplash/photos/")}
    assert tracked == {r["source_id"] for r in unsplash}
    for stored in rows:
        assert rig.store.get(stored["storage_key"])  # the bytes are there


def test_a_photo_both_apis_return_is_stored_once(rig: Rig) -> None:
    # The fake serves the same files through both APIs, in the same order.
    report = rig.run(["deer"], per_label=6)
    assert report["labels"]["deer"]["stored"] == 6
    assert report["labels"]["deer"]["duplicates"] >= 3
    shas = [r["image_id"] for r in rig.images()]
    assert len(shas) == len(set(shas)) == 6


def test_a_second_run_adds_new_photos_and_never_duplicates(rig: Rig) -> None:
    rig.run(["lion"], per_label=4)
    held = {r["source_id"] for r in rig.images() if r["source"] == "unsplash"}
    tracked_before = len(rig.apis.hits("/unsplash/photos/"))
    report = rig.run(["lion"], per_label=4)
    assert report["labels"]["lion"]["stored"] == 4
    rows = rig.images()
    assert len(rows) == 8
    assert len({(r["source"], r["source_id"]) for r in rows}) == 8
    # Photos already held are recognised by their source id and not downloaded again.
    tracked = {h.path.split("/")[3] for h in rig.apis.hits("/unsplash/photos/")[tracked_before:]}
    assert tracked and not tracked & held


def test_a_near_duplicate_of_a_held_photo_is_not_stored(rig: Rig, settings: Settings) -> None:
    first = rig.apis.photos_for("bear")[0]
    recompressed = io.BytesIO()
    Image.open(first).convert("RGB").resize((200, 150)).save(recompressed, "JPEG", quality=70)
    held = intake(recompressed.getvalue())
    store_photo(rig.store, rig.warehouse, held, source="telegram", user_id="telegram:1")
    report = rig.run(["bear"], per_label=3)
    original = intake(first.read_bytes()).sha256
    assert original not in {r["image_id"] for r in rig.images()}
    assert report["labels"]["bear"]["duplicates"] >= 1


def test_a_429_is_waited_out_then_the_search_goes_on(rig: Rig) -> None:
    rig.apis.sources["unsplash"].retry_after = 2
    rig.apis.fail("unsplash", "429")
    report = rig.run(["cat"], per_label=4)
    assert report["stored"] == 4 and report["sources"]["unsplash"] == "ok"
    assert rig.sleeps == [2.0]


def test_persistent_429s_give_up_on_that_api_and_the_other_fills_the_quota(rig: Rig) -> None:
    rig.apis.fail("unsplash", "429", times=10)
    report = rig.run(["dog", "cat"], per_label=4)
    assert report["sources"]["unsplash"].startswith("rate limited")
    assert report["labels"]["dog"]["stored"] == 4 and report["labels"]["cat"]["stored"] == 4
    assert {r["source"] for r in rig.images()} == {"pexels"}
    # No more Unsplash searches after giving up (3 attempts for the first label only).
    assert len(rig.apis.hits("/unsplash/search/photos")) == 3


def test_a_spent_allowance_stops_calls_to_that_api(rig: Rig) -> None:
    rig.apis.fail("unsplash", "exhausted")
    report = rig.run(["horse", "monkey"], per_label=2)
    assert "rate limit spent" in report["sources"]["unsplash"]
    assert len(rig.apis.hits("/unsplash/search/photos")) == 1
    assert report["stored"] == 4


def test_a_malformed_body_is_reported_and_the_other_api_is_used(rig: Rig) -> None:
    rig.apis.fail("unsplash", "malformed")
    report = rig.run(["rabbit"], per_label=3)
    assert report["sources"]["unsplash"].startswith("error: unsplash: malformed JSON")
    assert report["labels"]["rabbit"]["stored"] == 3


def test_entries_missing_fields_are_skipped(rig: Rig) -> None:
    rig.apis.fail("pexels", "bad-entries")
    rig.apis.fail("unsplash", "bad-entries")
    report = rig.run(["snake"], per_label=4)
    assert report["stored"] == 4
    assert "broken" not in {r["source_id"] for r in rig.images()}


def test_a_server_error_is_retried(rig: Rig) -> None:
    rig.apis.fail("pexels", "500")
    rig.apis.fail("unsplash", "500")
    assert rig.run(["fish"], per_label=2)["stored"] == 2
    assert rig.sleeps == [1.0, 1.0]


def test_sources_without_keys_are_skipped_with_a_note(data_dir: Any) -> None:
    settings = load_settings(data_dir=data_dir, photos={"pexels_api_key": "k"})
    with httpx.Client() as http:
        sources, notes = open_sources(settings, http)
    assert [s.name for s in sources] == ["pexels"]
    assert notes == ["unsplash: skipped, no access key (CREATURE_VIS_PHOTOS__UNSPLASH_ACCESS_KEY)"]


def test_the_acquire_command_reports_progress_and_what_it_stored(
    settings: Settings,
    apis: FakePhotoApis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cli.main import main

    monkeypatch.setenv("CREATURE_VIS_PHOTOS__UNSPLASH_ACCESS_KEY", UNSPLASH_KEY)
    monkeypatch.setenv("CREATURE_VIS_PHOTOS__PEXELS_API_KEY", PEXELS_KEY)
    monkeypatch.setenv("CREATURE_VIS_PHOTOS__UNSPLASH_BASE_URL", apis.unsplash_url)
    monkeypatch.setenv("CREATURE_VIS_PHOTOS__PEXELS_BASE_URL", apis.pexels_url)
    with caplog.at_level("INFO", logger="core.progress"):
        assert main(["acquire", "cat", "zebra", "--per-label", "2"]) == 0
    out = capsys.readouterr().out
    assert "unsplash: ok" in out and "pexels: ok" in out and "stored 4 photos" in out
    lines = [record.getMessage() for record in caplog.records]  # not a terminal: log lines
    assert "acquire: labels: 2 labels to do" in lines
    assert any(line.startswith("acquire: zebra: 2 stored, 4 in all") for line in lines)
    assert main(["acquire", "unicorn"]) == 2
