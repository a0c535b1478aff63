"""The feature cache: each photo's embedding and model v0 log-probabilities, computed once.

Features are keyed by the photo's sha256 (its image id) and the backbone id, so they are valid
in any data directory and a retrain never runs the backbone on a photo it has seen::

    features/<backbone id>/<sha[:2]>/<sha>.npz     embedding (1280,), log_probs (16,)
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from core.errors import ObjectNotFound
from core.model.api import EMBEDDING_SIZE
from core.model.classifier import NUM_LABELS, Features, features_from_outputs
from core.model.preprocess import to_input
from core.model.runtime import Engine
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

    def key(self, image_id: str) -> str:
        """Return the storage key of one photo's features."""
        return f"{PREFIX}/{self.backbone}/{image_id[:2]}/{image_id}.npz"

    def has(self, image_id: str) -> bool:
        """Tell whether the features of ``image_id`` are cached."""
        return self.store.exists(self.key(image_id))

    def put(self, image_id: str, embedding: np.ndarray, log_probs: np.ndarray) -> None:
        """Cache one photo's features."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            embedding=np.asarray(embedding, np.float32).reshape(EMBEDDING_SIZE),
            log_probs=np.asarray(log_probs, np.float32).reshape(NUM_LABELS),
        )
        self.store.put(self.key(image_id), buffer.getvalue(), "application/octet-stream")

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

    def ensure(self, image_ids: Sequence[str], load_photo: PhotoLoader, engine: Engine) -> Features:
        """Compute and cache whatever is missing, then return features for all ``image_ids``.

        Photos are decoded and resized on a thread pool (Pillow releases the GIL) and cache
        writes go to another, so both overlap with the backbone running on the batch.
        """
        todo = self.missing(image_ids)
        with ThreadPoolExecutor(DECODE_THREADS) as decoders, ThreadPoolExecutor(2) as writers:
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
            for write in writes:
                write.result()
        if todo:
            log.info("computed features of %d new photos", len(todo))
        return self.get(image_ids)


def store_loader(store: ImageStore, keys: dict[str, str]) -> PhotoLoader:
    """Return a loader that reads photos from the store by image id (``keys`` maps to keys)."""
    from core.model.preprocess import decode

    def load(image_id: str) -> Image.Image:
        try:
            return decode(store.get(keys[image_id]))
        except KeyError as exc:
            raise ObjectNotFound(f"no stored photo for image {image_id}") from exc

    return load
