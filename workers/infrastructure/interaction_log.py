"""Interactions logged in Redis at once and written to the warehouse in batches.

A warehouse write costs about the same for one row as for hundreds (DuckDB: open, commit,
checkpoint, ~100 ms here; BigQuery: one request), several times the model's time per photo.
So ``classify`` keeps its row in Redis (the broker, which already holds the tasks durably)
under the interaction id, and a flusher thread in each worker process moves pending rows to
the warehouse in batches. The row is set only if absent, so a redelivered task finds the
first row and logs nothing new; the warehouse insert skips ids it holds, so a flush repeated
after a crash writes nothing twice. Rows are built by ``core.warehouse.records.interaction_row``.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import redis

from core.held_images import dump_row, load_row, write_held_images
from core.queue import FORGOTTEN_INTERACTIONS_KEY, INTERACTION_ROW_KEY, PENDING_INTERACTIONS_KEY
from core.warehouse import Row, Warehouse

log = logging.getLogger(__name__)
ROW_KEY = INTERACTION_ROW_KEY
PENDING_KEY = PENDING_INTERACTIONS_KEY
# After a flush the row stays a day without the person's ids, so a late redelivery still
# answers with it (and logs nothing) while Redis keeps nothing that names anyone.
KEEP_SECONDS = 24 * 3600
PERSONAL_FIELDS = ("user_id", "chat_id")
# Set the row if absent and mark it pending, atomically; else return the row held.
_ADD_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SADD', KEYS[2], ARGV[2])
  return false
end
return redis.call('GET', KEYS[1])
"""


class InteractionLog:
    """Pending interactions in Redis, flushed to the warehouse in batches."""

    def __init__(self, client: redis.Redis, warehouse: Warehouse, batch_max: int = 500) -> None:
        self.redis = client
        self.warehouse = warehouse
        self.batch_max = batch_max
        self._add = client.register_script(_ADD_SCRIPT)

    def add(self, row: Row) -> Row | None:
        """Hold ``row`` for the warehouse; return the row already held under its id, if any."""
        interaction_id = str(row["interaction_id"])
        held = self._add(keys=[ROW_KEY + interaction_id, PENDING_KEY],
                         args=[dump_row(row), interaction_id])  # fmt: skip
        return None if held is None else load_row(held)

    def held(self, interaction_id: str) -> Row | None:
        """The row Redis holds for the interaction (pending, or kept a day after its flush)."""
        data = self.redis.get(ROW_KEY + interaction_id)
        return None if data is None else load_row(data)

    def pending(self) -> int:
        """Rows not yet in the warehouse."""
        return int(self.redis.scard(PENDING_KEY))

    def flush(self) -> int:
        """Write up to ``batch_max`` pending rows to the warehouse; return how many."""
        members = self.redis.srandmember(PENDING_KEY, self.batch_max) or []
        ids = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        return self._flush(ids)

    def flush_images(self) -> int:
        """Write up to ``batch_max`` images rows the bot holds (``core.held_images``)."""
        return write_held_images(self.redis, self.warehouse, limit=self.batch_max)

    def flush_one(self, interaction_id: str) -> None:
        """Write one interaction now if it is pending (before feedback refers to it).

        Its photo's images row goes first when the bot still holds it, so that an answered
        photo is in the warehouse with its answer.
        """
        data = self.redis.get(ROW_KEY + interaction_id)
        if data is not None:
            write_held_images(self.redis, self.warehouse, [str(load_row(data)["image_id"])])
        if self.redis.sismember(PENDING_KEY, interaction_id):
            self._flush([interaction_id])

    def _flush(self, ids: list[str]) -> int:
        if not ids:
            return 0
        found = self.redis.mget([ROW_KEY + i for i in ids])
        rows = [load_row(data) for data in found if data is not None]
        if len(rows) < len(ids):
            log.error("%d pending interactions had no row in Redis", len(ids) - len(rows))
        self.warehouse.insert("interactions", rows)
        pipe = self.redis.pipeline()
        pipe.srem(PENDING_KEY, *ids)
        for row in rows:
            kept = {k: v for k, v in row.items() if k not in PERSONAL_FIELDS}
            pipe.set(ROW_KEY + str(row["interaction_id"]), dump_row(kept), ex=KEEP_SECONDS)
        pipe.execute()
        # Checked after the rows are kept: a /forget from then on no longer finds them pending
        # and goes by the warehouse (core.queue.forget_pending_interactions' ``flushed``).
        self._delete_forgotten([str(row["interaction_id"]) for row in rows])
        return len(rows)

    def _delete_forgotten(self, ids: list[str]) -> None:
        """Delete rows (warehouse and kept) whose person asked to be forgotten during the flush."""
        if not ids:
            return
        flags = self.redis.smismember(FORGOTTEN_INTERACTIONS_KEY, ids)
        forgotten = [i for i, flag in zip(ids, flags, strict=True) if flag]
        if forgotten:
            self.warehouse.execute(
                "DELETE FROM interactions WHERE interaction_id IN UNNEST(@ids)", {"ids": forgotten}
            )
            self.redis.delete(*(ROW_KEY + i for i in forgotten))
            log.info("deleted %d interactions forgotten during a flush", len(forgotten))


class Replayable(Protocol):
    """Answers parked for the warehouse, written on the flusher's turn."""

    def replay(self) -> int:
        """Write what is parked; return how many."""


class Flusher:
    """A daemon thread that flushes held images rows, an InteractionLog, then parked answers.

    Every ``interval`` s; images rows are those the bot holds (``core.held_images``).

    While the warehouse or Redis fails, it waits longer between attempts (up to
    ``max_backoff``); the rows stay pending meanwhile.
    """

    def __init__(
        self,
        interactions: InteractionLog,
        interval: float,
        answers: Replayable | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        self.interactions = interactions
        self.answers = answers
        self.interval = interval
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="interaction-flusher", daemon=True)

    def start(self) -> None:
        """Start flushing in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and flush what is pending."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.flush_all()

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            delay = self.interval if self.flush_all() else min(delay * 2, self.max_backoff)

    def flush_all(self) -> bool:
        """Flush until nothing is pending; return False when a flush failed."""
        try:
            # Images rows first: the interactions (and answers) name their photos.
            while self.interactions.flush_images() >= self.interactions.batch_max:
                pass
            while self.interactions.flush() >= self.interactions.batch_max:
                pass
            if self.answers is not None:
                self.answers.replay()  # after the interactions they refer to
        except Exception:  # a busy warehouse or Redis: the rows stay pending, retried later
            log.exception("flushing interactions failed; will retry")
            return False
        return True
