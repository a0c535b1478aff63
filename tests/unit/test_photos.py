import io
from pathlib import Path

import numpy as np
from PIL import Image

from core.images import intake
from core.photos import photo_key, store_photo
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
