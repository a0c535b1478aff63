"""Images rows of the bot's photos, held in Redis until a worker writes them in a batch.

The bot stores each photo's original, but writes no warehouse row on a photo's way: a DuckDB
insert per photo took over half of its threads' time at 30 photos/s (and held the file the
workers flush into), and BigQuery would take one DML statement per photo. So once the
original is in the store, its images row waits in Redis (the broker) under the image id, and
each worker's flusher writes the waiting rows in batches beside the interactions. A row is
set only if absent and the warehouse insert skips ids it holds, so a photo sent twice, or a
flush repeated after a crash, writes one row; the original is stored before its row waits,
so no row names a photo the store lacks.

/forget writes the person's waiting rows itself first (``forget_held_images``), so that
``core.forget`` finds their photos in the warehouse, and flags them: a worker's flush that
was writing one of them meanwhile deletes it again (``write_held_images``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Final

from core.warehouse import Row, Warehouse

IMAGE_ROW_KEY: Final = "creature-vis:image:"
PENDING_IMAGES_KEY: Final = "creature-vis:images:pending"
# Image id -> the person who had it forgotten while it was waiting; kept an hour, well past
# the longest warehouse write a flush can have under way.
FORGOTTEN_IMAGES_KEY: Final = "creature-vis:images:forgotten"
FORGOTTEN_KEEP_SECONDS: Final = 3600


def dump_row(row: Row) -> str:
    """A warehouse row as JSON for Redis (times as ISO 8601), as the workers' log keeps them too."""
    return json.dumps(row, default=lambda v: v.isoformat() if isinstance(v, dt.datetime) else v)


def load_row(data: bytes | str) -> Row:
    """The row ``dump_row`` wrote."""
    row: Row = json.loads(data)
    row["created_at"] = dt.datetime.fromisoformat(row["created_at"])
    return row


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def hold_image(redis: Any, row: Row) -> None:
    """Hold a stored photo's images row for the workers (``redis``: an asyncio client)."""
    image_id = str(row["image_id"])
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(IMAGE_ROW_KEY + image_id, dump_row(row), nx=True)
        pipe.sadd(PENDING_IMAGES_KEY, image_id)
        await pipe.execute()


def held_images(redis: Any) -> int:
    """Rows waiting for the warehouse."""
    return int(redis.scard(PENDING_IMAGES_KEY))


def write_held_images(
    redis: Any,
    warehouse: Warehouse,
    ids: Sequence[str] | None = None,
    *,
    limit: int = 500,
    delete_forgotten: bool = True,
) -> int:
    """Write waiting rows (``ids``, or up to ``limit`` of them) to the warehouse; return how many.

    With ``delete_forgotten``, rows whose person had them forgotten while this write was under
    way are deleted again once written.
    """
    if ids is None:
        ids = [_text(m) for m in redis.srandmember(PENDING_IMAGES_KEY, limit) or []]
    if not ids:
        return 0
    found = redis.mget([IMAGE_ROW_KEY + i for i in ids])
    rows = [load_row(data) for data in found if data is not None]
    if rows:
        warehouse.insert("images", rows)
    if delete_forgotten:
        _delete_forgotten(redis, warehouse, rows)
    pipe = redis.pipeline()
    pipe.srem(PENDING_IMAGES_KEY, *ids)
    pipe.delete(*(IMAGE_ROW_KEY + i for i in ids))
    pipe.execute()
    return len(rows)


def forget_held_images(redis: Any, warehouse: Warehouse, user_id: str) -> int:
    """Write ``user_id``'s waiting rows to the warehouse for /forget to find; flag them."""
    ids = [_text(m) for m in redis.smembers(PENDING_IMAGES_KEY)]
    found = redis.mget([IMAGE_ROW_KEY + i for i in ids]) if ids else []
    theirs = [i for i, data in zip(ids, found, strict=True)
              if data is not None and json.loads(data).get("user_id") == user_id]  # fmt: skip
    if not theirs:
        return 0
    write_held_images(redis, warehouse, theirs, delete_forgotten=False)
    pipe = redis.pipeline()
    pipe.hset(FORGOTTEN_IMAGES_KEY, mapping=dict.fromkeys(theirs, user_id))
    pipe.expire(FORGOTTEN_IMAGES_KEY, FORGOTTEN_KEEP_SECONDS)
    pipe.execute()
    return len(theirs)


def _delete_forgotten(redis: Any, warehouse: Warehouse, rows: list[Row]) -> None:
    """Delete rows just written whose person had them forgotten meanwhile (not others')."""
    if not rows:
        return
    ids = [str(row["image_id"]) for row in rows]
    forgotten_by = redis.hmget(FORGOTTEN_IMAGES_KEY, ids)
    late = [(row, _text(who)) for row, who in zip(rows, forgotten_by, strict=True) if who]
    for row, who in late:
        if row.get("user_id") == who:
            warehouse.execute(
                "DELETE FROM images WHERE image_id = @id AND user_id = @user",
                {"id": str(row["image_id"]), "user": who},
            )
