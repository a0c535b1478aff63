"""What a retraining process opens once from settings: storage, warehouse, registry, features.

Only opened resources live here; every policy and threshold is passed to the step that uses
it, and what a round reads (answers, manifests, weak rows) is a ``retraining.snapshot``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from core.model.features import FeatureCache
from core.model.handle import open_registry
from core.model.registry import ModelRegistry
from core.model.runtime import Engine, open_engine
from core.model.sources import backbone_id
from core.progress import Progress
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.warehouse import Warehouse, open_warehouse


@dataclass(frozen=True)
class Resources:
    """The store, warehouse, registry and feature cache, a lazy backbone and a progress line."""

    store: ImageStore
    warehouse: Warehouse
    registry: ModelRegistry
    features: FeatureCache
    engine: Callable[[], Engine]  # opens the backbone on first call, then returns it
    progress: Progress = field(default_factory=lambda: Progress("retrain"))


def open_resources(
    settings: Settings,
    *,
    feature_store: ImageStore | None = None,
    engine: Callable[[], Engine] | None = None,
    progress: Progress | None = None,
) -> Resources:
    """Open the configured store, warehouse and registry (the engine opens on first use)."""
    store = open_store(settings)
    registry = open_registry(settings, store)
    registry.ensure_taxonomy()
    return Resources(
        store=store,
        warehouse=open_warehouse(settings),
        registry=registry,
        features=FeatureCache(feature_store or store, backbone_id(settings)),
        engine=functools.cache(engine or (lambda: open_engine(settings))),
        progress=progress or Progress("retrain"),
    )
