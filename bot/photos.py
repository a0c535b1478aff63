"""Blocking work on a user's photos (run in a thread): intake, storing originals, /forget."""

from __future__ import annotations

from dataclasses import dataclass

from core.forget import forget_person
from core.forgotten import ForgetRecord
from core.images import IntakeImage, intake
from core.model.preprocess import RESIZE_SHORT, pack_input, to_input
from core.model.sources import backbone_id
from core.people import telegram_user
from core.photos import put_photo
from core.settings import Settings
from core.storage import ImageStore
from core.warehouse import Row, Warehouse

SOURCE = "telegram"


def user_key(telegram_user_id: int) -> str:
    """Return the warehouse user id of a Telegram user."""
    return telegram_user(telegram_user_id)


@dataclass(frozen=True)
class CheckedPhoto:
    """A photo that passed intake, and its model input packed for the classify task."""

    photo: IntakeImage
    pixels: str


def check_photo(settings: Settings, data: bytes) -> CheckedPhoto:
    """Validate and decode a photo once; raise an ImageRejected subclass when it is not usable.

    Decoded as the server and ``core.model.preprocess.decode`` do (JPEG draft at the model's
    resize size), so the input sent to the worker is the one retraining recomputes.
    """
    limits = settings.images
    photo = intake(
        data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, draft_size=RESIZE_SHORT
    )
    return CheckedPhoto(photo, pack_input(to_input(photo.image)))


def store_original(store: ImageStore, photo: IntakeImage, user_id: int) -> Row:
    """Store a checked photo's original, as sent by ``user_id``; return its images row.

    The row is not written here: it waits in Redis for a worker (``core.held_images``).
    """
    return put_photo(store, photo, source=SOURCE, user_id=user_key(user_id))


def forget(
    settings: Settings, store: ImageStore, warehouse: Warehouse, user_id: int
) -> dict[str, int]:
    """Forget a user's photos, features, dataset examples and rows; return counts."""
    return forget_person(store, warehouse, user_key(user_id), [backbone_id(settings)])


def forgot_since(store: ImageStore, user_id: int, since: float) -> bool:
    """Tell whether the user sent /forget at or after ``since`` (Unix seconds)."""
    return ForgetRecord(store).forgot_since(user_key(user_id), since)
