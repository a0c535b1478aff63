"""Forgetting a person: what /forget (bot) and "Forget me" (web page) delete.

A person's photos are those they sent that nobody else sent or asked about too; a photo
someone else also sent stays (it is theirs as well) but loses its link to this person. For
their photos, in this order, so that a crash part-way leaves the rest to a second /forget:

1. the person and their photos go into the forget record (``core.forgotten``), which work
   already under way checks before it writes anything back;
2. cached features (every backbone) and stored originals are deleted;
3. every dataset manifest and curation log drops them;
4. their answers, predictions and image rows are deleted from the warehouse.

What is still in Redis (interactions and answers not yet flushed, the bot's buttons) is the
caller's to drop first: the bot does; the server writes out its prediction log first.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.forgotten import ForgetRecord
from core.manifests import redact_all
from core.model.features import FeatureCache
from core.photos import photo_keys
from core.storage import ImageStore
from core.warehouse import Warehouse
from core.warehouse.records import forget_user

THEIRS_SQL = """
SELECT image_id, storage_key FROM images WHERE user_id = @user
UNION ALL
SELECT image_id, NULL AS storage_key FROM interactions WHERE user_id = @user
"""
SHARED_SQL = """
SELECT image_id FROM images
WHERE image_id IN UNNEST(@ids) AND (user_id IS NULL OR user_id <> @user)
UNION ALL
SELECT image_id FROM interactions
WHERE image_id IN UNNEST(@ids) AND (user_id IS NULL OR user_id <> @user)
UNION ALL
SELECT i.image_id FROM feedback AS f JOIN interactions AS i USING (interaction_id)
WHERE i.image_id IN UNNEST(@ids) AND f.user_id <> @user
"""
RELEASE_SQL = """
UPDATE images SET user_id = NULL
WHERE user_id = @user AND image_id NOT IN UNNEST(@ids)
"""


def forget_person(
    store: ImageStore, warehouse: Warehouse, user_id: str, backbones: Iterable[str]
) -> dict[str, int]:
    """Forget ``user_id`` everywhere; return counts (photos, features, examples, rows)."""
    record = ForgetRecord(store)
    record.mark_person(user_id)
    theirs = their_photos(warehouse, user_id)
    record.add_photos(theirs)
    caches = [FeatureCache(store, backbone) for backbone in backbones]
    features = sum(cache.delete(image_id) for cache in caches for image_id in theirs)
    photos = sum(_delete_photo(store, image_id, key) for image_id, key in theirs.items())
    examples = redact_all(store, set(theirs))
    warehouse.execute(RELEASE_SQL, {"user": user_id, "ids": sorted(theirs)})
    rows = forget_user(warehouse, user_id)
    return {**rows, "photos": photos, "features": features, "examples": examples}


def their_photos(warehouse: Warehouse, user_id: str) -> dict[str, str | None]:
    """Map the photos only ``user_id`` sent or asked about to their storage keys (if stored)."""
    theirs: dict[str, str | None] = {}
    for row in warehouse.query(THEIRS_SQL, {"user": user_id}):
        image_id = str(row["image_id"])
        theirs[image_id] = theirs.get(image_id) or row["storage_key"]
    if not theirs:
        return {}
    shared = warehouse.query(SHARED_SQL, {"user": user_id, "ids": sorted(theirs)})
    for row in shared:
        theirs.pop(str(row["image_id"]), None)
    return theirs


def _delete_photo(store: ImageStore, image_id: str, key: str | None) -> bool:
    """Delete every copy of a photo (under its row's key and each key it could have)."""
    deleted = [store.delete(candidate) for candidate in {*photo_keys(image_id), key} if candidate]
    return any(deleted)
