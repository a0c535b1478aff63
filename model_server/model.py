"""The server's view of the production model: a ModelHandle driven from the model thread.

``ModelService`` adapts the core ``ModelHandle`` (which follows the registry's production
pointer and swaps versions atomically) to the micro-batcher, and describes versions for the
API. The handle comes from a factory so tests and tools can inject one (for example a real
registry with a small deterministic backbone engine).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from core.errors import CreatureVisError
from core.model.api import Prediction
from core.model.handle import ModelHandle
from core.model.preprocess import to_input
from core.model.registry import ModelVersion
from core.settings import Settings
from core.storage import ImageStore

log = logging.getLogger(__name__)

ModelFactory = Callable[[Settings, ImageStore], ModelHandle]


def default_model_factory(settings: Settings, store: ImageStore) -> ModelHandle:
    """Follow the registry on the configured store with the configured serving runtime."""
    return ModelHandle.from_settings(settings, store)


@dataclass(frozen=True)
class VersionInfo:
    """What the API says about one model version."""

    version: str
    kind: str
    created_at: str | None
    parent_version: str | None
    dataset_version: str | None
    metrics: dict[str, Any]
    production: bool


class ModelService:
    """Runs batches on the production classifier and describes the registry."""

    def __init__(self, handle: ModelHandle) -> None:
        self.handle = handle
        self.loaded_version: str | None = None
        self.load_error: str | None = None
        self._versions: dict[str, ModelVersion] = {}

    @staticmethod
    def prepare(image: Image.Image) -> np.ndarray:
        """Return the model input of one picture (resize and crop), off the model thread."""
        return to_input(image)

    def load(self) -> str:
        """Load the production classifier now (model thread); return its version."""
        try:
            version = self.handle.get().version
        except CreatureVisError as exc:
            self.load_error = str(exc)
            raise
        self.loaded_version, self.load_error = version, None
        return version

    def predict_batch(
        self, images: Sequence[Image.Image], prepared: np.ndarray | None
    ) -> list[Prediction]:
        """Predict a batch with the production version (and a staged one in shadow), now."""
        classifier = self.handle.get()
        shadow = self.handle.shadow()
        self.loaded_version = classifier.version
        if prepared is not None:
            return classifier.predict_batch(prepared, shadow)
        return classifier.predict(images, shadow)

    def _read(self, version: str) -> ModelVersion | None:
        """A version's description, read and verified once: versions are immutable."""
        if version not in self._versions:
            try:
                self._versions[version] = self.handle.registry.get(version)
            except CreatureVisError as exc:
                log.warning("skipping unreadable version %s: %s", version, exc)
                return None  # not kept: a version still being written is read again later
        return self._versions[version]

    def describe(self) -> tuple[VersionInfo | None, list[VersionInfo]]:
        """Return the production version and the history of versions, oldest first."""
        registry = self.handle.registry
        production = registry.production()
        history: list[VersionInfo] = []
        for version in registry.versions():
            model = self._read(version)
            if model is None:
                continue
            history.append(
                VersionInfo(
                    version=version,
                    kind=model.kind,
                    created_at=model.lineage.created,
                    parent_version=model.lineage.parent_version,
                    dataset_version=model.lineage.dataset_version,
                    metrics=dict(model.metrics),
                    production=version == production,
                )
            )
        current = next((info for info in history if info.production), None)
        return current, history
