"""The feature cache: each photo's embedding and model v0 log-probabilities, computed once.

Features are keyed by the photo's sha256 (its image id) and the backbone id, so they are valid
in any data directory and a retrain never runs the backbone on a photo it has seen::

    features/<backbone id>/<sha[:2]>/<sha>.npz     embedding (1280,), log_probs (16,)

Serving fills it too: a prediction carries the features of its backbone pass, and a
``FeatureWriter`` stores them in batches on a background thread, so the photos people send
never go through the backbone again when retraining. Features once cached are never
rewritten, so a frozen dataset version always trains and evaluates on the same inputs.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from core.errors import ObjectNotFound
from core.forgotten import ForgetRecord
from core.model.api import EMBEDDING_SIZE, Prediction
from core.model.classifier import NUM_LABELS, Features, features_from_outputs
from core.model.preprocess import to_input
from core.model.runtime import Engine
from core.progress import QUIET, Progress
from core.storage import ImageStore

log = logging.getLogger(__name__)
PREFIX = "features"
COMPUTE_BATCH = 64
DECODE_THREADS = 3

PhotoLoader = Callable[[str], Image.Image]


class FeatureCache:
    """Cached head inputs per (backbone, image id) on an ImageStore."""

    def __init__(self, store: ImageStore, backbone: str) -> None:
        self.store = store
        self.backbone = backbone
        self.forgotten = ForgetRecord(store)

    def key(self, image_id: str) -> str:
        """Return the storage key of one photo's features."""
        return f"{PREFIX}/{self.backbone}/{image_id[:2]}/{image_id}.npz"

    def has(self, image_id: str) -> bool:
        """Tell whether the features of ``image_id`` are cached."""
        return self.store.exists(self.key(image_id))

    def put(self, image_id: str, embedding: np.ndarray, log_probs: np.ndarray) -> None:
        """Cache one photo's features (replacing what is there: see ``add`` to keep it).

        Unless the photo was forgotten: checked after the write, so a /forget that deleted
        the features just before is never undone by work that was under way.
        """
        buffer = io.BytesIO()
        np.savez(
            buffer,
            embedding=np.asarray(embedding, np.float32).reshape(EMBEDDING_SIZE),
            log_probs=np.asarray(log_probs, np.float32).reshape(NUM_LABELS),
        )
        self.store.put(self.key(image_id), buffer.getvalue(), "application/octet-stream")
        if self.forgotten.is_forgotten(image_id):
            self.delete(image_id)

    def delete(self, image_id: str) -> bool:
        """Delete one photo's features; return whether they were cached."""
        return self.store.delete(self.key(image_id))

    def add(self, image_id: str, embedding: np.ndarray, log_probs: np.ndarray) -> bool:
        """Cache one photo's features unless cached already; return whether it wrote."""
        if self.has(image_id):
            return False
        self.put(image_id, embedding, log_probs)
        return True

    def get(self, image_ids: Sequence[str]) -> Features:
        """Return the cached features of ``image_ids`` in order; raise ObjectNotFound if absent."""
        embeddings = np.zeros((len(image_ids), EMBEDDING_SIZE), np.float32)
        log_probs = np.zeros((len(image_ids), NUM_LABELS), np.float32)
        for row, image_id in enumerate(image_ids):
            with np.load(io.BytesIO(self.store.get(self.key(image_id)))) as arrays:
                embeddings[row] = arrays["embedding"]
                log_probs[row] = arrays["log_probs"]
        return Features(embeddings, log_probs)

    def missing(self, image_ids: Sequence[str]) -> list[str]:
        """Return the ids (deduplicated, in order) whose features are not cached yet."""
        return [i for i in dict.fromkeys(image_ids) if not self.has(i)]

    def ensure(
        self,
        image_ids: Sequence[str],
        load_photo: PhotoLoader,
        engine: Engine,
        progress: Progress = QUIET,
    ) -> Features:
        """Compute and cache whatever is missing, then return features for all ``image_ids``.

        Photos are decoded and resized on a thread pool (Pillow releases the GIL) and cache
        writes go to another, so both overlap with the backbone running on the batch.
        """
        todo = self.missing(image_ids)
        with (
            ThreadPoolExecutor(DECODE_THREADS) as decoders,
            ThreadPoolExecutor(2) as writers,
            progress.bar(len(todo), "features", "photos") as step,
        ):
            inputs = decoders.map(lambda i: to_input(load_photo(i)), todo)
            writes = []
            for start in range(0, len(todo), COMPUTE_BATCH):
                chunk = todo[start : start + COMPUTE_BATCH]
                batch = np.stack([next(inputs) for _ in chunk]).astype(np.float32)
                computed = features_from_outputs(*engine.run(batch))
                writes += [
                    writers.submit(
                        self.put,
                        image_id,
                        computed.embeddings[row],
                        computed.taxonomy_log_probs[row],
                    )
                    for row, image_id in enumerate(chunk)
                ]
                step(len(chunk))
            for write in writes:
                write.result()
        if todo:
            log.info("computed features of %d new photos", len(todo))
        return self.get(image_ids)


_Row = tuple[str, np.ndarray, np.ndarray]


class FeatureWriter:
    """Caches the features of served predictions in batches, on a background thread.

    ``submit`` never blocks and never fails the prediction: when the queue is full (the store
    is slow or down) the features are dropped and retraining computes them later. The thread
    starts on first use (after a worker forks) and writes each batch with a few threads.
    """

    def __init__(
        self, cache: FeatureCache, *, batch: int = 64, threads: int = 4, max_pending: int = 4096
    ) -> None:
        self.cache = cache
        self.batch = batch
        self.threads = threads
        self._queue: queue.Queue[_Row | None] = queue.Queue(max_pending)
        self._seen: OrderedDict[str, None] = OrderedDict()  # recently queued ids
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    def submit(self, image_id: str, prediction: Prediction) -> bool:
        """Queue a photo's features from its prediction; return False when not queued."""
        log_probs = prediction.taxonomy_log_probs
        if log_probs is None:
            return False
        with self._lock:
            if image_id in self._seen:
                return False
            self._remember(image_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="feature-writer")
                self._thread.daemon = True
                self._thread.start()
        try:
            self._queue.put_nowait((image_id, prediction.embedding, log_probs))
        except queue.Full:
            self._forget(image_id, dropped=True)
            log.warning("feature cache writes are behind; not caching %s", image_id)
            return False
        return True

    def flush(self) -> None:
        """Wait until everything submitted so far is written (or failed)."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=60)

    def _forget(self, image_id: str, *, dropped: bool = False) -> None:
        with self._lock:
            self._seen.pop(image_id, None)
            self.dropped += int(dropped)

    def _remember(self, image_id: str) -> None:
        self._seen[image_id] = None
        while len(self._seen) > 4 * self._queue.maxsize:
            self._seen.popitem(last=False)

    def _run(self) -> None:
        with ThreadPoolExecutor(self.threads, thread_name_prefix="feature-put") as pool:
            while True:
                rows = [self._queue.get()]
                while len(rows) < self.batch and not self._queue.empty():
                    rows.append(self._queue.get_nowait())
                stop = any(row is None for row in rows)
                self._write(pool, [row for row in rows if row is not None])
                for _ in rows:
                    self._queue.task_done()
                if stop:
                    return

    def _write(self, pool: ThreadPoolExecutor, rows: list[_Row]) -> None:
        for row, outcome in zip(rows, pool.map(self._add, rows), strict=True):
            if isinstance(outcome, Exception):
                self._forget(row[0])  # tried again when the photo comes back
                log.warning("could not cache the features of %s: %s", row[0], outcome)
            else:
                self.written += int(outcome)

    def _add(self, row: _Row) -> bool | Exception:
        try:
            return self.cache.add(*row)
        except Exception as exc:  # a failed cache write must never stop the writer
            return exc


def store_loader(store: ImageStore, keys: dict[str, str]) -> PhotoLoader:
    """Return a loader that reads photos from the store by image id (``keys`` maps to keys)."""
    from core.model.preprocess import decode

    def load(image_id: str) -> Image.Image:
        try:
            return decode(store.get(keys[image_id]))
        except KeyError as exc:
            raise ObjectNotFound(f"no stored photo for image {image_id}") from exc

    return load
