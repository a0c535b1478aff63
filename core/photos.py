"""The photo library: a validated photo is stored once, with its provenance.

Exact duplicates are found by sha256 (the image id), near ones by perceptual-hash distance.
The store write happens before the warehouse row, so a crash in between leaves an orphan
blob that the next attempt overwrites with the same bytes, never a row without its photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.images import IntakeImage, hash_distance
from core.storage import ImageStore
from core.warehouse import Row, Warehouse
from core.warehouse.grouped_writes import held_keys
from core.warehouse.records import utcnow

# Sources only the acquisition pipeline writes: their weak labels become training data, so
# nobody else (the public API) may claim them.
ACQUIRED_SOURCES: tuple[str, ...] = ("unsplash", "pexels")


@dataclass(frozen=True)
class StoredPhoto:
    """Result of adding a photo: its id, and what it duplicates if anything."""

    image_id: str
    storage_key: str
    created: bool
    duplicate_of: str | None = None
    duplicate_kind: str | None = None  # "exact" or "near"


# File extensions photo_key gives the accepted formats, most common first.
PHOTO_EXTENSIONS = ("jpg", "png", "webp", "gif")


def photo_key(photo: IntakeImage) -> str:
    """Return the storage key of a photo: content-addressed, so names never collide."""
    return f"images/{photo.sha256[:2]}/{photo.sha256}.{photo.extension}"


def photo_keys(image_id: str) -> list[str]:
    """Return every key ``photo_key`` could have given the photo ``image_id``."""
    return [f"images/{image_id[:2]}/{image_id}.{extension}" for extension in PHOTO_EXTENSIONS]


def find_image(warehouse: Warehouse, image_id: str) -> Row | None:
    """Return the images row for ``image_id``."""
    rows = warehouse.query("SELECT * FROM images WHERE image_id = @id LIMIT 1", {"id": image_id})
    return rows[0] if rows else None


def find_near_duplicate(warehouse: Warehouse, phash: str, max_bits: int) -> Row | None:
    """Return a stored image whose perceptual hash is within ``max_bits`` of ``phash``."""
    best: tuple[int, Row] | None = None
    for row in warehouse.query("SELECT image_id, phash, weak_label FROM images"):
        distance = hash_distance(phash, str(row["phash"]))
        if distance <= max_bits and (best is None or distance < best[0]):
            best = (distance, row)
    return best[1] if best else None


def image_row(photo: IntakeImage, *, source: str, **provenance: Any) -> Row:
    """Return the images row of ``photo`` stored under ``photo_key``.

    ``provenance`` fills the rest: user_id, source_id, source_url, license, attribution,
    weak_label.
    """
    return {
        "image_id": photo.sha256,
        "created_at": utcnow(),
        "phash": photo.phash,
        "storage_key": photo_key(photo),
        "content_type": photo.content_type,
        "width": photo.width,
        "height": photo.height,
        "size_bytes": len(photo.data),
        "source": source,
        **provenance,
    }


def store_photo(
    store: ImageStore,
    warehouse: Warehouse,
    photo: IntakeImage,
    *,
    source: str,
    near_duplicate_bits: int | None = None,
    **provenance: Any,
) -> StoredPhoto:
    """Store ``photo`` unless held already; with ``near_duplicate_bits``, refuse near copies.

    ``provenance`` fills the images row (``image_row``).
    """
    existing = find_image(warehouse, photo.sha256)
    if existing is not None:
        return StoredPhoto(photo.sha256, str(existing["storage_key"]), False, photo.sha256, "exact")
    if near_duplicate_bits is not None:
        near = find_near_duplicate(warehouse, photo.phash, near_duplicate_bits)
        if near is not None:
            return StoredPhoto(photo.sha256, "", False, str(near["image_id"]), "near")
    row = put_photo(store, photo, source=source, **provenance)
    created = warehouse.insert("images", [row]) == 1
    return StoredPhoto(photo.sha256, str(row["storage_key"]), created)


def put_photo(store: ImageStore, photo: IntakeImage, *, source: str, **provenance: Any) -> Row:
    """Write the original to the store; return its images row (not yet in the warehouse)."""
    row = image_row(photo, source=source, **provenance)
    store.put(str(row["storage_key"]), photo.data, photo.content_type)
    return row


@dataclass(frozen=True)
class PhotoToStore:
    """A photo waiting to be stored: its bytes and its ``image_row``."""

    data: bytes
    row: Row


def store_photos(store: ImageStore, warehouse: Warehouse, photos: Sequence[PhotoToStore]) -> int:
    """Store the photos not held already, with one query and one insert; return rows written.

    The first of several copies in ``photos`` gives the row. Exact duplicates only: near
    ones are answered like any other photo.
    """
    fresh: dict[str, PhotoToStore] = {}
    for photo in photos:
        fresh.setdefault(str(photo.row["image_id"]), photo)
    if not fresh:
        return 0
    for image_id in held_keys(warehouse.query, "images", sorted(fresh)):
        fresh.pop(str(image_id), None)
    for photo in fresh.values():
        store.put(str(photo.row["storage_key"]), photo.data, str(photo.row["content_type"]))
    return warehouse.insert("images", [photo.row for photo in fresh.values()])
