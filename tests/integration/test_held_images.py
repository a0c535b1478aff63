"""Images rows the bot holds in real Redis until a worker's flusher writes them to DuckDB."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
import redis
from PIL import Image
from redis.asyncio import Redis as AsyncRedis

from core.held_images import (
    forget_held_images,
    held_images,
    hold_image,
    write_held_images,
)
from core.images import intake
from core.photos import find_image, put_photo
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.warehouse import Row, Warehouse, open_warehouse
from testkit.workers_support import SHARED_REDIS, claim_redis_db, release_redis_db


@pytest.fixture
def url() -> Iterator[str]:
    db = claim_redis_db()
    yield f"{SHARED_REDIS}/{db}"
    release_redis_db(db)


@pytest.fixture
def client(url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(url)
    yield connection
    connection.close()


@pytest.fixture
def warehouse(settings: Settings) -> Warehouse:
    return open_warehouse(settings)


@pytest.fixture
def store(settings: Settings) -> ImageStore:
    return open_store(settings)


def photo_row(store: ImageStore, shade: int, user_id: str) -> Row:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (shade, 90, 200 - shade)).save(buffer, "JPEG")
    return put_photo(store, intake(buffer.getvalue()), source="telegram", user_id=user_id)


def hold(url: str, *rows: Row) -> None:
    async def run() -> None:
        client = AsyncRedis.from_url(url)
        for row in rows:
            await hold_image(client, row)
        await client.aclose()

    asyncio.run(run())


def test_a_held_row_is_written_once_and_leaves_redis(
    url: str, client: redis.Redis, store: ImageStore, warehouse: Warehouse
) -> None:
    alice = photo_row(store, 10, "telegram:1")
    bob_same_photo = {**alice, "user_id": "telegram:2"}
    hold(url, alice, bob_same_photo)
    assert held_images(client) == 1  # the first sender's row waits, once
    assert find_image(warehouse, alice["image_id"]) is None  # nothing written by holding
    assert write_held_images(client, warehouse) == 1
    row = find_image(warehouse, alice["image_id"])
    assert row is not None and row["user_id"] == "telegram:1"
    assert store.exists(str(row["storage_key"]))
    assert held_images(client) == 0 and list(client.scan_iter("creature-vis:image:*")) == []
    hold(url, bob_same_photo)  # sent again after the write: held, and written as nothing new
    assert write_held_images(client, warehouse) == 1
    sql = "SELECT user_id FROM images WHERE image_id = @id"
    rows = warehouse.query(sql, {"id": row["image_id"]})
    assert [r["user_id"] for r in rows] == ["telegram:1"]


def test_forget_writes_the_persons_held_rows_and_no_one_elses(
    url: str, client: redis.Redis, store: ImageStore, warehouse: Warehouse
) -> None:
    alice, bob = photo_row(store, 20, "telegram:1"), photo_row(store, 30, "telegram:2")
    hold(url, alice, bob)
    assert forget_held_images(client, warehouse, "telegram:1") == 1
    assert find_image(warehouse, alice["image_id"]) is not None  # for /forget to find
    assert find_image(warehouse, bob["image_id"]) is None  # still held for a worker
    assert held_images(client) == 1
    assert forget_held_images(client, warehouse, "telegram:1") == 0


def test_a_flush_under_way_at_forget_deletes_what_it_wrote_late(
    url: str, client: redis.Redis, store: ImageStore, warehouse: Warehouse
) -> None:
    alice, carol = photo_row(store, 40, "telegram:1"), photo_row(store, 50, "telegram:3")
    hold(url, alice, carol)
    ids = [alice["image_id"], carol["image_id"]]
    late_write = [client.get(f"creature-vis:image:{i}") for i in ids]  # a flush read them...
    forget_held_images(client, warehouse, "telegram:1")  # ...then Alice sent /forget,
    warehouse.execute("DELETE FROM images WHERE user_id = @u", {"u": "telegram:1"})  # forgot,
    for image_id, data in zip(ids, late_write, strict=True):  # ...and the flush writes now
        assert data is not None
        client.set(f"creature-vis:image:{image_id}", data)
    assert write_held_images(client, warehouse, ids) == 2
    assert find_image(warehouse, alice["image_id"]) is None  # written late, deleted again
    assert find_image(warehouse, carol["image_id"]) is not None  # not hers: kept
    # Someone else sending Alice's forgotten photo later keeps their row.
    hold(url, {**alice, "user_id": "telegram:4"})
    assert write_held_images(client, warehouse) == 1
    kept = find_image(warehouse, alice["image_id"])
    assert kept is not None and kept["user_id"] == "telegram:4"
