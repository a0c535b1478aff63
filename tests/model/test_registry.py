"""The registry keeps versions immutable and the production pointer consistent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ModelArtifactError
from core.model.calibration import Calibration
from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from core.model.handle import ModelHandle
from core.model.registry import POINTER, Lineage, ModelRegistry
from core.storage import LocalStore

BACKBONE = "test-backbone"


class FakeEngine:
    """A deterministic stand-in backbone: logits favour dog, embedding from the mean pixel."""

    name = "fake"

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = batch.shape[0]
        embeddings = np.tile(batch.mean(axis=(1, 2, 3))[:, None], (1, 1280)).astype(np.float32)
        logits = np.zeros((n, 1000), np.float32)
        logits[:, 200] = 10.0  # an ImageNet dog class
        return embeddings, logits


class FlakyStore(LocalStore):
    """A LocalStore that dies (like a killed process) when asked to write one key."""

    def __init__(self, root: Path, fail_on: str) -> None:
        super().__init__(root)
        self.fail_on = fail_on

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        if key.endswith(self.fail_on):
            raise KeyboardInterrupt(f"crash while writing {key}")
        super().put(key, data, content_type)


def bird_head() -> Head:
    """A head that always says 'bird'."""
    weights = np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32)
    bias = np.zeros(NUM_LABELS, np.float32)
    bias[10] = 20.0
    return Head(weights, bias)


def lineage(parent: str = "v0") -> Lineage:
    return Lineage(parent_version=parent, dataset_version="ds-1", code_version="test")


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(LocalStore(tmp_path / "store"), BACKBONE)


def photo() -> Image.Image:
    return Image.new("RGB", (300, 200), (120, 90, 60))


def test_v0_is_created_on_first_use_and_becomes_production(registry: ModelRegistry) -> None:
    assert registry.versions() == []
    assert registry.ensure_taxonomy() == "v0"
    assert registry.versions() == ["v0"]
    assert registry.production() == "v0"
    (prediction,) = registry.load("v0", FakeEngine()).predict([photo()])
    assert prediction.label == "dog"
    assert prediction.model_version == "v0"
    assert len(prediction.probabilities) == 16
    assert prediction.embedding.shape == (1280,)


def test_saved_head_carries_labels_metrics_lineage(registry: ModelRegistry) -> None:
    registry.ensure_taxonomy()
    version = registry.save_head(bird_head(), metrics={"accuracy": 0.9}, lineage=lineage())
    assert version == "v1"
    model = registry.get(version)
    assert model.kind == "head"
    assert model.metrics == {"accuracy": 0.9}
    assert model.lineage.parent_version == "v0"
    assert model.lineage.dataset_version == "ds-1"
    assert model.head is not None
    assert registry.production() == "v0"  # saving never promotes
    (prediction,) = registry.load(version, FakeEngine()).predict([photo()])
    assert prediction.label == "bird"
    assert prediction.model_version == "v1"


def test_versions_are_immutable(registry: ModelRegistry) -> None:
    registry.ensure_taxonomy()
    registry.save_head(bird_head(), metrics={}, lineage=lineage(), version="v7")
    with pytest.raises(ModelArtifactError):
        registry.save_head(bird_head(), metrics={}, lineage=lineage(), version="v7")
    assert registry.next_version() == "v8"


def test_promote_and_rollback_move_the_pointer(registry: ModelRegistry) -> None:
    registry.ensure_taxonomy()
    v1 = registry.save_head(bird_head(), metrics={}, lineage=lineage())
    v2 = registry.save_head(bird_head(), metrics={}, lineage=lineage(v1))
    registry.promote(v1)
    registry.promote(v2)
    assert registry.production() == v2
    assert registry.rollback() == v1
    assert registry.production() == v1
    assert registry.rollback() == "v0"
    with pytest.raises(ModelArtifactError):
        registry.rollback()
    assert registry.production() == "v0"


def test_crash_between_artifact_and_pointer_leaves_production_serving(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    ModelRegistry(LocalStore(root), BACKBONE).ensure_taxonomy()
    crashing = ModelRegistry(FlakyStore(root, POINTER), BACKBONE)
    version = crashing.save_head(bird_head(), metrics={}, lineage=lineage())
    with pytest.raises(KeyboardInterrupt):
        crashing.promote(version)  # the process dies before the pointer moves
    after = ModelRegistry(LocalStore(root), BACKBONE)
    assert after.production() == "v0"
    assert version in after.versions()  # complete, promotable later
    after.promote(version)
    assert after.production() == version


def test_crash_while_writing_artifact_leaves_no_version(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ModelRegistry(LocalStore(root), BACKBONE).ensure_taxonomy()
    crashing = ModelRegistry(FlakyStore(root, "manifest.json"), BACKBONE)
    with pytest.raises(KeyboardInterrupt):
        crashing.save_head(bird_head(), metrics={}, lineage=lineage(), version="v1")
    after = ModelRegistry(LocalStore(root), BACKBONE)
    assert after.versions() == ["v0"]
    with pytest.raises(ModelArtifactError):
        after.promote("v1")
    assert after.production() == "v0"


@pytest.mark.parametrize("victim", ["head.npz", "labels.json", "lineage.json"])
def test_corrupt_artifact_is_refused_and_pointer_stays(
    registry: ModelRegistry, victim: str
) -> None:
    registry.ensure_taxonomy()
    version = registry.save_head(bird_head(), metrics={}, lineage=lineage())
    key = f"models/{version}/{victim}"
    registry.store.put(key, registry.store.get(key)[:-5] + b"xxxxx")
    with pytest.raises(ModelArtifactError):
        registry.promote(version)
    assert registry.production() == "v0"


def test_missing_file_is_refused(registry: ModelRegistry) -> None:
    registry.ensure_taxonomy()
    version = registry.save_head(bird_head(), metrics={}, lineage=lineage())
    registry.store.delete(f"models/{version}/head.npz")
    with pytest.raises(ModelArtifactError):
        registry.get(version)


def test_head_from_another_backbone_is_refused(registry: ModelRegistry) -> None:
    registry.ensure_taxonomy()
    version = registry.save_head(bird_head(), metrics={}, lineage=lineage())
    other = ModelRegistry(registry.store, "another-backbone")
    with pytest.raises(ModelArtifactError, match="backbone"):
        other.load(version, FakeEngine())


def test_head_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="head must be"):
        Head(np.zeros((1280, 16), np.float32), np.zeros(16, np.float32))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_handle_follows_pointer_after_reload_period(registry: ModelRegistry) -> None:
    clock = Clock()
    engines: list[FakeEngine] = []

    def engine_factory() -> FakeEngine:
        engines.append(FakeEngine())
        return engines[-1]

    handle = ModelHandle(registry, engine_factory, reload_seconds=2.0, clock=clock)
    assert engines == []  # nothing loads before first use
    held = handle.get()
    assert held.version == "v0"
    version = registry.save_head(bird_head(), metrics={}, lineage=lineage())
    registry.promote(version)
    clock.now = 1.0
    assert handle.get().version == "v0"  # not due yet
    clock.now = 2.5
    assert handle.get().version == version
    assert held.version == "v0"  # a request in flight keeps its classifier
    registry.rollback()
    assert handle.refresh() is True
    assert handle.version == "v0"
    assert len(engines) == 1  # the backbone is shared across versions


def test_handle_keeps_serving_when_new_version_is_corrupt(registry: ModelRegistry) -> None:
    clock = Clock()
    handle = ModelHandle(registry, FakeEngine, reload_seconds=1.0, clock=clock)
    assert handle.version == "v0"
    version = registry.save_head(bird_head(), metrics={}, lineage=lineage())
    registry.promote(version)
    registry.store.put(f"models/{version}/head.npz", b"garbage")
    assert handle.refresh() is False
    assert handle.version == "v0"
    (prediction,) = handle.predict([photo()])
    assert prediction.model_version == "v0"


def test_processes_starting_together_create_one_consistent_v0(tmp_path: Path) -> None:
    import threading

    for attempt in range(5):
        root = tmp_path / f"store-{attempt}"
        registries = [ModelRegistry(LocalStore(root), BACKBONE) for _ in range(4)]
        threads = [threading.Thread(target=r.ensure_taxonomy) for r in registries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert registries[0].get("v0").kind == "taxonomy"
        assert registries[0].production() == "v0"


def test_a_version_serves_with_its_calibration_and_handles_follow_a_refit(
    registry: ModelRegistry,
) -> None:
    clock = Clock()
    handle = ModelHandle(registry, FakeEngine, reload_seconds=1.0, clock=clock)
    (raw,) = handle.predict([photo()])
    assert raw.answer == ["dog"] and raw.answer_set == ["dog"]  # uncalibrated: the top label
    # A high temperature spreads v0's confident dog over its other labels: a set of three.
    registry.calibrate("v0", Calibration(50.0, 1.0, 0.5, 0.95, 100, "test-1"))
    (before,) = handle.predict([photo()])
    assert before.probabilities == raw.probabilities  # not due for a refresh yet
    clock.now = 1.5
    (after,) = handle.predict([photo()])
    assert after.label == "dog" and after.top3[0][1] < raw.top3[0][1]
    assert after.answer_set == [label for label, _ in after.top3]
    assert registry.load("v0", FakeEngine()).calibration == registry.calibration("v0")
    registry.store.put("models/v0/calibration.json", b"{not json")
    assert registry.calibration("v0") is None  # unreadable: served uncalibrated, logged
    assert handle.refresh() is False
    (again,) = handle.predict([photo()])
    assert again.probabilities == raw.probabilities
