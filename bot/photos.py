"""Blocking work on a user's photos (run in a thread): intake and storing, and /forget."""

from __future__ import annotations

from core.images import IntakeImage, intake
from core.photos import StoredPhoto, store_photo
from core.settings import Settings
from core.storage import ImageStore
from core.warehouse import Warehouse
from core.warehouse.records import forget_user

SOURCE = "telegram"


def user_key(telegram_user_id: int) -> str:
    """Return the warehouse user id of a Telegram user."""
    return f"telegram:{telegram_user_id}"


def check_photo(settings: Settings, data: bytes) -> IntakeImage:
    """Validate and decode a photo; raise an ImageRejected subclass when it is not usable."""
    return intake(data, max_bytes=settings.images.max_bytes, max_pixels=settings.images.max_pixels)


def store_user_photo(
    store: ImageStore, warehouse: Warehouse, photo: IntakeImage, user_id: int
) -> StoredPhoto:
    """Store a checked photo once, as sent by ``user_id``."""
    return store_photo(store, warehouse, photo, source=SOURCE, user_id=user_key(user_id))


def forget(store: ImageStore, warehouse: Warehouse, user_id: int) -> dict[str, int]:
    """Delete a user's photos from the store, then their rows; return counts."""
    who = user_key(user_id)
    rows = warehouse.query("SELECT storage_key FROM images WHERE user_id = @user", {"user": who})
    photos = sum(store.delete(str(row["storage_key"])) for row in rows)
    return {**forget_user(warehouse, who), "photos": photos}
