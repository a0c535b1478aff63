import io
from pathlib import Path

import numpy as np
from PIL import Image

from core.images import intake
from core.photos import PhotoToStore, image_row, photo_key, store_photo, store_photos
from core.storage import LocalStore
from core.warehouse.duckdb_backend import DuckDbWarehouse


def jpeg(seed: int, size: tuple[int, int] = (160, 120), quality: int = 90) -> bytes:
    """A picture of a few coloured rectangles, placed relative to its size."""
    rng = np.random.default_rng(seed)
    pixels = np.full((size[1], size[0], 3), 128, dtype=np.uint8)
    for _ in range(6):
        top, left = rng.uniform(0, 0.7, 2)
        height, width = rng.uniform(0.15, 0.4, 2)
        rows = slice(int(top * size[1]), int((top + height) * size[1]))
        cols = slice(int(left * size[0]), int((left + width) * size[0]))
        pixels[rows, cols] = rng.integers(0, 255, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_photo_is_stored_once_with_provenance(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    warehouse = DuckDbWarehouse(tmp_path / "w.duckdb")
    warehouse.create_tables()
    photo = intake(jpeg(1))
    first = store_photo(store, warehouse, photo, source="unsplash", license="Unsplash License",
                        attribution="Photo by A on Unsplash", weak_label="dog")  # fmt: skip
    assert first.created
    assert store.get(first.storage_key) == photo.data
    assert first.storage_key == photo_key(photo)
    again = store_photo(store, warehouse, photo, source="pexels")
    assert (again.created, again.duplicate_kind, again.duplicate_of) == (
        False,
        "exact",
        photo.sha256,
    )
    rows = warehouse.query("SELECT source, license, attribution, weak_label FROM images")
    assert rows == [{"source": "unsplash", "license": "Unsplash License",
                     "attribution": "Photo by A on Unsplash", "weak_label": "dog"}]  # fmt: skip


def test_near_duplicate_is_reported_and_not_stored(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    warehouse = DuckDbWarehouse(tmp_path / "w.duckdb")
    warehouse.create_tables()
    original = intake(jpeg(2))
    store_photo(store, warehouse, original, source="upload", near_duplicate_bits=6)
    recompressed = intake(jpeg(2, size=(320, 240), quality=50))
    near = store_photo(store, warehouse, recompressed, source="upload", near_duplicate_bits=6)
    assert (near.created, near.duplicate_kind, near.duplicate_of) == (
        False,
        "near",
        original.sha256,
    )
    different = store_photo(store, warehouse, intake(jpeg(3)), source="upload",
                            near_duplicate_bits=6)  # fmt: skip
    assert different.created
    assert len(store.list("images/")) == 2


def test_photo_downloads_go_only_to_the_cdns_and_the_key_only_to_the_api() -> None:
    import httpx
    import pytest

    from workers.clients.pexels import PexelsSource
    from workers.clients.photo_api import ApiClient, PhotoCandidate, PhotoSourceError
    from workers.clients.unsplash import UnsplashSource

    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.host == "api.unsplash.com":
            return httpx.Response(200, json={"url": "ok"})
        return httpx.Response(200, content=b"photo bytes")

    http = httpx.Client(transport=httpx.MockTransport(answer))
    unsplash = UnsplashSource(ApiClient(http, "unsplash"), "https://api.unsplash.com", "key-1")
    pexels = PexelsSource(ApiClient(http, "pexels"), "https://api.pexels.com/v1", "key-2")

    def candidate(download: str, track: str | None = None) -> PhotoCandidate:
        return PhotoCandidate(source="unsplash", source_id="p1", download_url=download,
                              page_url="https://unsplash.com/photos/p1", license="l",
                              attribution="a", track_url=track)  # fmt: skip

    fine = candidate("https://images.unsplash.com/photo-1", "https://api.unsplash.com/dl/p1")
    assert unsplash.download(fine, 1000) == b"photo bytes"
    assert [r.url.host for r in sent] == ["api.unsplash.com", "images.unsplash.com"]
    assert "Authorization" not in sent[1].headers  # the key stays with the API
    sent.clear()
    for bad in (
        candidate("http://169.254.169.254/latest/meta-data"),
        candidate("http://images.unsplash.com/photo-1"),  # not https
        candidate("https://images.unsplash.com/photo-1", "https://evil.example/track"),
    ):
        with pytest.raises(PhotoSourceError):
            unsplash.download(bad, 1000)
    with pytest.raises(PhotoSourceError):
        pexels.download(candidate("https://evil.example/p.jpg"), 1000)
    assert sent == []  # nothing was asked of any other host


def test_photos_are_stored_in_one_round_once_each(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    warehouse = DuckDbWarehouse(tmp_path / "w.duckdb")
    warehouse.create_tables()
    held = intake(jpeg(5))
    store_photo(store, warehouse, held, source="upload", weak_label="cat")
    new = intake(jpeg(6))
    sent = [
        PhotoToStore(new.data, image_row(new, source="web", user_id="web:a")),
        PhotoToStore(held.data, image_row(held, source="api", user_id="api:b")),
        PhotoToStore(new.data, image_row(new, source="api", user_id="api:c")),  # sent twice
    ]
    assert store_photos(store, warehouse, sent) == 1
    assert store.get(photo_key(new)) == new.data
    rows = warehouse.query("SELECT image_id, source, user_id FROM images ORDER BY source")
    assert rows == [
        {"image_id": held.sha256, "source": "upload", "user_id": None},  # kept as it was
        {"image_id": new.sha256, "source": "web", "user_id": "web:a"},  # the first copy's row
    ]
    assert store_photos(store, warehouse, sent) == 0
