"""The prediction log: photos and interaction rows written behind the answer, in rounds.

An answer does not wait for its photo to be stored and its interaction row to be written.
``PredictionLog.add`` queues them and one thread writes whatever is queued in one round (one
images query, one images insert, one interactions insert), waiting at most ``wait`` seconds
after the first prediction for more. Warehouse statements cost milliseconds whatever their
size: on DuckDB here a round of one prediction takes about 10 ms of CPU (5 ms when the photo
is held already), a round of 32 about 22 ms (9 ms; 0.7 and 0.3 ms each).

What must see a logged prediction waits for it: an answer about an interaction still queued
(``settle``), a "Forget me" and the status figures (``flush``). The queue is bounded by
``max_backlog``: past it the log is ``far_behind`` and answers wait for their own writes, so
a stalled warehouse slows answers instead of filling the memory. A failed round is retried
with backoff, never dropped while the server runs; ``close`` writes what is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.forgotten import ForgetRecord
from core.photos import PhotoToStore, store_photos
from core.storage import ImageStore
from core.warehouse import Row, Warehouse
from core.warehouse.records import record_interactions

log = logging.getLogger(__name__)
_SETTLE_SECONDS = 60.0  # past this a waiter goes on and meets the warehouse's own error
_RETRY_SECONDS = (0.1, 0.5, 2.0, 5.0)
_ATTEMPTS_AT_CLOSE = 3
MAX_BACKLOG = 256  # predictions queued before answers wait for their own writes


@dataclass(frozen=True)
class LoggedPrediction:
    """One answered prediction: the photo to keep and its interaction row."""

    photo: PhotoToStore
    interaction: Row
    holder: str | None  # the session or key holder, who can ask to be forgotten
    sent: float  # when the request came (Unix seconds): a "Forget me" from then covers it


WriteRound = Callable[[Sequence[LoggedPrediction]], None]


class PredictionWriter:
    """Writes one round: photos (store, then rows), interactions, then re-forgets if asked.

    A person who asked to be forgotten after sending one of these photos is forgotten again
    once it is written, so work under way never brings back what they had deleted.
    """

    def __init__(
        self, store: ImageStore, warehouse: Warehouse, forget: Callable[[str], object]
    ) -> None:
        self.store = store
        self.warehouse = warehouse
        self.forgotten = ForgetRecord(store)
        self.forget = forget

    def __call__(self, entries: Sequence[LoggedPrediction]) -> None:
        """Write ``entries``; every write skips what is there already, so a retry is safe."""
        store_photos(self.store, self.warehouse, [entry.photo for entry in entries])
        record_interactions(self.warehouse, [entry.interaction for entry in entries])
        first_sent: dict[str, float] = {}
        for entry in entries:
            if entry.holder is not None:
                first_sent[entry.holder] = min(entry.sent, first_sent.get(entry.holder, entry.sent))
        for holder, sent in first_sent.items():
            if self.forgotten.forgot_since(holder, sent):
                self.forget(holder)


class PredictionLog:
    """Queues logged predictions and writes them in rounds on one background thread."""

    def __init__(
        self,
        write: WriteRound,
        *,
        wait: float,
        max_round: int = 512,
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        self.write = write
        self.wait = wait
        self.max_round = max_round
        self.max_backlog = max_backlog
        self._cond = threading.Condition()
        self._queued: list[LoggedPrediction] = []
        self._pending: dict[str, int] = {}  # interaction id -> its number in the order added
        self._added = 0  # numbers run 1, 2, ...; each round writes the oldest queued
        self._written = 0  # everything numbered up to this is written (or given up at close)
        self._wanted = 0  # someone waits for everything up to this number
        self._closing = False
        self._thread: threading.Thread | None = None
        self.failures = 0

    @property
    def backlog(self) -> int:
        """Predictions queued and not yet written."""
        with self._cond:
            return len(self._queued)

    @property
    def far_behind(self) -> bool:
        """More than ``max_backlog`` predictions are queued: answers should wait (``settle``)."""
        return self.backlog > self.max_backlog

    def add(self, entry: LoggedPrediction) -> bool:
        """Queue one prediction for the next round (never blocks on writing).

        Return False once the log is closing: the caller writes the prediction itself.
        """
        with self._cond:
            if self._closing:
                return False
            self._added += 1
            self._queued.append(entry)
            self._pending[str(entry.interaction["interaction_id"])] = self._added
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="prediction-log")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify_all()
        return True

    def settle(self, interaction_id: str) -> None:
        """Return once ``interaction_id`` is written (at once when it is not queued)."""
        with self._cond:
            number = self._pending.get(interaction_id)
            if number is not None:
                self._wait_for(number)

    def flush(self) -> None:
        """Return once everything added so far is written."""
        with self._cond:
            self._wait_for(self._added)

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join()

    def _wait_for(self, number: int) -> None:
        self._wanted = max(self._wanted, number)
        self._cond.notify_all()
        deadline = time.monotonic() + _SETTLE_SECONDS
        while self._written < number:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("prediction %d not written after %.0f s", number, _SETTLE_SECONDS)
                return
            self._cond.wait(remaining)

    def _run(self) -> None:
        while True:
            entries = self._next_round()
            if not entries:
                return
            self._write_round(entries)

    def _next_round(self) -> list[LoggedPrediction]:
        """Wait for a prediction, then up to ``wait`` for more (less when someone waits)."""
        with self._cond:
            while not self._queued and not self._closing:
                self._cond.wait()
            deadline = time.monotonic() + self.wait
            while not self._closing and self._wanted <= self._written:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or len(self._queued) >= self.max_round:
                    break
                self._cond.wait(remaining)
            return self._queued[: self.max_round]

    def _write_round(self, entries: list[LoggedPrediction]) -> None:
        attempt = 0
        while True:
            try:
                self.write(entries)
                break
            except Exception:
                attempt += 1
                self.failures += 1
                log.exception("writing %d predictions failed (attempt %d)", len(entries), attempt)
                with self._cond:
                    if self._closing and attempt >= _ATTEMPTS_AT_CLOSE:
                        log.error("stopping with %d predictions unwritten", len(self._queued))
                        break
                    delay = _RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS)) - 1]
                    deadline = time.monotonic() + delay
                    while not self._closing and (left := deadline - time.monotonic()) > 0:
                        self._cond.wait(left)
        with self._cond:
            del self._queued[: len(entries)]
            self._written += len(entries)
            for entry in entries:
                self._pending.pop(str(entry.interaction["interaction_id"]), None)
            self._cond.notify_all()
