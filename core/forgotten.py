"""The record of what people asked us to forget, kept in the store every component shares.

/forget deletes a person's rows, photos and features, but work already under way (a retrain
that loaded a manifest, a worker caching a photo's features, a classify task still running)
can write some of it back. So every such write and every dataset read checks this record::

    forgotten/photos/<tombstone>     one per forgotten photo
    forgotten/people/<tombstone>     one per person who asked, holding when (Unix seconds)

A tombstone is the sha256 of a fixed phrase and the image id (or user id): it answers "was
this forgotten?" for an id in hand, but names no photo and no person, so the record keeps
nothing it was asked to forget. A forgotten photo stays forgotten: if anyone sends it again,
it is answered but never trained or tested on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from core.errors import ObjectNotFound
from core.storage import ImageStore

PREFIX = "forgotten/"
PHOTOS = PREFIX + "photos/"
PEOPLE = PREFIX + "people/"


def tombstone(kind: str, value: str) -> str:
    """Return the name under which ``value`` (an image or user id) is recorded."""
    return hashlib.sha256(f"creature-vis forgotten {kind}: {value}".encode()).hexdigest()


class ForgetRecord:
    """Forgotten photos and people, on an ImageStore."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store

    def add_photos(self, image_ids: Iterable[str]) -> None:
        """Record photos as forgotten (idempotent)."""
        for image_id in image_ids:
            self.store.create(PHOTOS + tombstone("photo", image_id), b"", "text/plain")

    def is_forgotten(self, image_id: str) -> bool:
        """Tell whether a photo was forgotten."""
        return self.store.exists(PHOTOS + tombstone("photo", image_id))

    def forgotten_among(self, image_ids: Iterable[str]) -> set[str]:
        """Return those of ``image_ids`` that were forgotten (one listing, however many)."""
        ids = set(image_ids)
        if not ids:
            return set()
        names = {key.removeprefix(PHOTOS) for key in self.store.list(PHOTOS)}
        return {image_id for image_id in ids if tombstone("photo", image_id) in names}

    def mark_person(self, user_id: str) -> float:
        """Record that ``user_id`` asked to be forgotten now; return the time recorded."""
        now = time.time()
        self.store.put(PEOPLE + tombstone("person", user_id), repr(now).encode(), "text/plain")
        return now

    def forgot_since(self, user_id: str | None, since: float) -> bool:
        """Tell whether ``user_id`` asked to be forgotten at or after ``since`` (Unix seconds).

        Work that started before a /forget checks this when it is done, and discards what it
        made if so.
        """
        if user_id is None:
            return False
        try:
            asked = float(self.store.get(PEOPLE + tombstone("person", user_id)))
        except ObjectNotFound:
            return False
        return asked >= since
