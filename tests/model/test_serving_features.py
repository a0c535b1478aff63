"""Serving gives retraining its inputs: features cached from predictions, staged shadows.

The real registry, handle, classifier and feature cache run on a small deterministic engine
(``ColourEngine``), so these tests need no TensorFlow.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from PIL import Image

from core.errors import ModelArtifactError
from core.model.classifier import compute_features
from core.model.features import FeatureCache, FeatureWriter
from core.model.handle import ModelHandle, open_registry
from core.model.sources import backbone_id
from core.settings import Settings
from core.storage import ImageStore, LocalStore, open_store
from tests.integration.server_support import ColourEngine, save_constant_head

RED, GREEN, GREY = (220, 30, 30), (30, 220, 30), (128, 128, 128)


def pictures(*colours: tuple[int, int, int]) -> list[Image.Image]:
    return [Image.new("RGB", (80, 60), colour) for colour in colours]


def handle_on(settings: Settings, engine: ColourEngine, *, staging: bool) -> ModelHandle:
    return ModelHandle(open_registry(settings), lambda: engine, 0.0, staging=staging)


def test_a_prediction_carries_exactly_the_features_retraining_computes(
    settings: Settings,
) -> None:
    engine = ColourEngine()
    images = pictures(RED, GREEN, GREY)
    expected = compute_features(engine, images)
    for version in ("v0", save_constant_head(settings, "zebra", version="v1")):
        handle = handle_on(settings, engine, staging=False)
        open_registry(settings).promote(version)
        predictions = handle.predict(images)
        assert [p.model_version for p in predictions] == [version] * 3
        for row, prediction in enumerate(predictions):
            assert prediction.taxonomy_log_probs is not None
            np.testing.assert_array_equal(prediction.embedding, expected.embeddings[row])
            np.testing.assert_array_equal(
                prediction.taxonomy_log_probs, expected.taxonomy_log_probs[row]
            )
            assert prediction.shadow is None


def test_the_writer_caches_served_features_once_and_never_rewrites(settings: Settings) -> None:
    cache = FeatureCache(open_store(settings), backbone_id(settings))
    engine = ColourEngine()
    handle = handle_on(settings, engine, staging=False)
    colours = [(200, 10 + i, 10) for i in range(40)]
    predictions = handle.predict(pictures(*colours))
    ids = [f"{i:064x}" for i in range(40)]
    kept = np.full(1280, 7.0, np.float32), np.full(16, -1.0, np.float32)
    cache.put(ids[0], *kept)  # computed earlier by retraining: stays as it is
    writer = FeatureWriter(cache, batch=8)
    assert all(writer.submit(i, p) for i, p in zip(ids, predictions, strict=True))
    assert not writer.submit(ids[1], predictions[1])  # queued already
    writer.close()
    assert cache.missing(ids) == [] and writer.written == 39
    stored = cache.get(ids)
    np.testing.assert_array_equal(stored.embeddings[0], kept[0])
    np.testing.assert_array_equal(
        stored.embeddings[1:], np.stack([p.embedding for p in predictions[1:]])
    )
    expected = np.stack([p.taxonomy_log_probs for p in predictions[1:]])  # type: ignore[misc]
    np.testing.assert_array_equal(stored.taxonomy_log_probs[1:], expected)


class FlakyStore:
    """A LocalStore whose writes fail for keys containing ``bad``, and can be held."""

    def __init__(self, inner: LocalStore, bad: str) -> None:
        self.inner, self.bad = inner, bad
        self.gate = threading.Event()
        self.writing = threading.Event()  # set once a write waits at the gate

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.writing.set()
        self.gate.wait(timeout=30)
        if self.bad in key:
            raise OSError("disk full")
        self.inner.put(key, data, content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_failing_or_slow_store_never_fails_or_blocks_serving(settings: Settings) -> None:
    inner = LocalStore(settings.data_dir / "flaky")
    store = FlakyStore(inner, bad="bad")
    cache = FeatureCache(store, "test-backbone")
    (prediction,) = handle_on(settings, ColourEngine(), staging=False).predict(pictures(RED))
    writer = FeatureWriter(cache, batch=2, threads=1, max_pending=3)
    ids = ["bad" + "0" * 61, *(f"{i:064x}" for i in range(1, 8))]
    queued = [writer.submit(ids[0], prediction)]
    assert store.writing.wait(timeout=30)  # the writer holds that one, stuck at the store...
    queued += [writer.submit(i, prediction) for i in ids[1:]]  # ...so 3 more fit in the queue
    assert queued == [True] * 4 + [False] * 4 and writer.dropped == 4  # dropped, not waited for
    store.gate.set()
    writer.close()
    written = [i for i, q in zip(ids, queued, strict=True) if q and i != ids[0]]
    assert cache.missing(written) == [] and not cache.has(ids[0])
    assert writer.submit(ids[-1], prediction)  # dropped earlier: tried again later
    assert writer.submit(ids[0], prediction)  # failed earlier: tried again too
    writer.close()


def test_the_handle_shadows_the_staged_version_on_the_same_backbone_pass(
    settings: Settings,
) -> None:
    save_constant_head(settings, "zebra", version="v1")
    save_constant_head(settings, "cat", version="v2")
    registry = open_registry(settings)
    engine = ColourEngine()
    handle = handle_on(settings, engine, staging=True)
    assert [p.shadow for p in handle.predict(pictures(RED))] == [None]
    registry.stage("v1")
    predictions = handle.predict(pictures(RED, GREEN))
    assert [(p.model_version, p.label) for p in predictions] == [("v0", "dog"), ("v0", "cat")]
    assert [p.shadow for p in predictions] == [("v1", "zebra")] * 2
    assert engine.calls[-1] == 2 and len(engine.calls) == 2  # one pass for both models
    registry.stage("v2")  # hot swap of the staged model
    assert [p.shadow for p in handle.predict(pictures(RED))] == [("v2", "cat")]
    registry.promote("v2")  # the staged version became production: nothing to shadow
    (prediction,) = handle.predict(pictures(RED))
    assert (prediction.model_version, prediction.shadow) == ("v2", None)
    registry.stage("v1")
    registry.unstage()
    assert handle.predict(pictures(RED))[0].shadow is None


def test_staging_off_or_a_broken_staged_version_leaves_production_alone(
    settings: Settings,
) -> None:
    save_constant_head(settings, "zebra", version="v1")
    registry = open_registry(settings)
    registry.stage("v1")
    assert (
        handle_on(settings, ColourEngine(), staging=False).predict(pictures(RED))[0].shadow is None
    )
    store: ImageStore = open_store(settings)
    store.put("models/v1/head.npz", b"not an npz")  # corrupt after staging
    handle = handle_on(settings, ColourEngine(), staging=True)
    (prediction,) = handle.predict(pictures(RED))
    assert (prediction.model_version, prediction.label, prediction.shadow) == ("v0", "dog", None)


def test_only_complete_versions_can_be_staged(settings: Settings) -> None:
    registry = open_registry(settings)
    registry.ensure_taxonomy()
    assert registry.staging() is None
    with pytest.raises(ModelArtifactError):
        registry.stage("v9")
    assert registry.staging() is None
    registry.stage("v0")
    assert registry.staging() == "v0" and "staging.json" not in registry.versions()
