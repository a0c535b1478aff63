"""Everything one retraining run works with, built once from settings at the entry point."""

from __future__ import annotations

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
from retraining.curation import CurationConfig
from retraining.datasets import SplitPolicy
from retraining.train import TrainConfig


@dataclass
class LoopContext:
    """Stores, registry, feature cache, a lazily opened backbone engine and the policies."""

    settings: Settings
    store: ImageStore
    warehouse: Warehouse
    registry: ModelRegistry
    features: FeatureCache
    engine_factory: Callable[[], Engine]
    split: SplitPolicy = field(default_factory=SplitPolicy)
    curation: CurationConfig = field(default_factory=CurationConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    progress: Progress = field(default_factory=lambda: Progress("retrain"))
    _engine: Engine | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, feature_store: ImageStore | None = None
    ) -> LoopContext:
        """Open the configured store, warehouse and registry (the engine opens on first use)."""
        store = open_store(settings)
        registry = open_registry(settings, store)
        registry.ensure_taxonomy()
        retrain = settings.retrain
        return cls(
            settings=settings,
            store=store,
            warehouse=open_warehouse(settings),
            registry=registry,
            features=FeatureCache(feature_store or store, backbone_id(settings)),
            engine_factory=lambda: open_engine(settings),
            split=SplitPolicy(
                test_fraction=retrain.test_fraction,
                test_per_label=retrain.test_per_label,
                min_test_trust=retrain.min_test_trust,
            ),
            curation=CurationConfig(
                min_trust=retrain.min_trust, duplicate_cosine=retrain.duplicate_cosine
            ),
            training=TrainConfig(
                steps=retrain.train_steps,
                learning_rate=retrain.learning_rate,
                anchor=retrain.anchor,
                anchor_unknown=retrain.anchor_unknown,
                balance_power=retrain.balance_power,
            ),
        )

    @property
    def engine(self) -> Engine:
        """The backbone engine, opened when features must be computed."""
        if self._engine is None:
            self._engine = self.engine_factory()
        return self._engine
