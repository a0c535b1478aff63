"""The production model as a process holds it: a handle that follows the registry pointer.

Servers and workers keep one ``ModelHandle`` (created in their lifecycle hook, never at import
time). It loads lazily on first use, re-reads the pointer (and the version's calibration) at
most every ``settings.model.reload_seconds`` (or at once on ``refresh()``), loads a moved-to
version beside the serving one and swaps a single reference, so a request in flight keeps the
classifier it started with. The backbone engine is shared by all versions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from core.errors import CreatureVisError, ModelArtifactError
from core.model.api import Prediction
from core.model.classifier import ModelClassifier
from core.model.registry import ModelRegistry
from core.model.runtime import Engine, open_engine
from core.model.sources import backbone_id
from core.settings import Settings
from core.storage import ImageStore, open_store

log = logging.getLogger(__name__)


def open_registry(settings: Settings, store: ImageStore | None = None) -> ModelRegistry:
    """Return the registry for the configured backbone on the configured store."""
    return ModelRegistry(store or open_store(settings), backbone_id(settings))


class ModelHandle:
    """Holds the current production classifier and swaps it when the pointer moves."""

    def __init__(
        self,
        registry: ModelRegistry,
        engine_factory: Callable[[], Engine],
        reload_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        staging: bool = False,
    ) -> None:
        self.registry = registry
        self.reload_seconds = reload_seconds
        self.staging = staging
        self._shadow: ModelClassifier | None = None
        self._shadow_refused: str | None = None
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self._clock = clock
        self._current: ModelClassifier | None = None
        self._checked_at = float("-inf")
        self._refused: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, store: ImageStore | None = None) -> ModelHandle:
        """Build a handle on the configured store and serving runtime (nothing loads yet)."""
        return cls(
            open_registry(settings, store),
            lambda: open_engine(settings),
            settings.model.reload_seconds,
            staging=settings.promotion.staging,
        )

    @property
    def engine(self) -> Engine:
        """The backbone engine, opened on first use."""
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    def get(self) -> ModelClassifier:
        """Return the production classifier, re-checking the pointer when it is due."""
        current = self._current
        if current is None or self._clock() - self._checked_at >= self.reload_seconds:
            self.refresh()
            current = self._current
        assert current is not None  # noqa: S101  (refresh loads or raises)
        return current

    @property
    def version(self) -> str:
        """The version being served."""
        return self.get().version

    def shadow(self) -> ModelClassifier | None:
        """Return the staged classifier to run in shadow, or None (none staged, staging off)."""
        self.get()
        return self._shadow

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Predict with the current production classifier (and the staged one in shadow)."""
        classifier = self.get()
        return classifier.predict(images, self._shadow)

    def predict_inputs(self, batch: np.ndarray) -> list[Prediction]:
        """Predict for prepared model inputs ``(N, 224, 224, 3)``, like ``predict``."""
        classifier = self.get()
        return classifier.predict_batch(batch, self._shadow)

    def refresh(self) -> bool:
        """Check the pointers now and swap to a moved-to version; return whether it swapped."""
        with self._lock:
            self._checked_at = self._clock()
            if self._current is None:
                self.registry.ensure_taxonomy()
            target = self.registry.production()
            swapped = self._follow_production(target)
            if not swapped:
                self._follow_calibration()
            if self.staging:
                self._follow_staging(target)
        if swapped:
            log.info("serving model %s", target)
        return swapped

    def _follow_production(self, target: str | None) -> bool:
        current = self._current
        if target is None or (current is not None and current.version == target):
            return False
        if current is not None and target == self._refused:
            return False
        try:
            loaded = self.registry.load(target, self.engine)
        except CreatureVisError as exc:
            if current is None:
                raise
            self._refused = target
            log.error("keeping %s: cannot load %s: %s", current.version, target, exc)
            return False
        self._current = loaded
        self._refused = None
        return True

    def _follow_calibration(self) -> None:
        """Serve the current version with its latest calibration (each round refits it)."""
        current = self._current
        if current is not None:
            calibration = self.registry.calibration(current.version)
            if calibration != current.calibration:
                self._current = current.with_calibration(calibration)
                log.info("serving %s with calibration %s", current.version, calibration)

    def _follow_staging(self, production: str | None) -> None:
        """Load a newly staged version beside production (never failing the production path)."""
        try:
            target = self.registry.staging()
        except CreatureVisError as exc:
            log.error("ignoring the staging pointer: %s", exc)
            target = None
        current = self._shadow
        if target is None or target == production:
            self._shadow = None
        elif (current is None or current.version != target) and target != self._shadow_refused:
            try:
                self._shadow = self.registry.load(target, self.engine)
                log.info("shadowing with staged model %s", target)
            except CreatureVisError as exc:
                self._shadow, self._shadow_refused = None, target
                log.error("not shadowing: cannot load staged %s: %s", target, exc)


def load_classifier(
    settings: Settings, version: str, store: ImageStore | None = None
) -> ModelClassifier:
    """Load one version (creating model v0 on first use) on the configured runtime."""
    registry = open_registry(settings, store)
    registry.ensure_taxonomy()
    if version not in registry.versions():
        raise ModelArtifactError(f"no model version {version!r}; known: {registry.versions()}")
    return registry.load(version, open_engine(settings))
