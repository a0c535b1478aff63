"""What a worker process holds: settings, store, warehouse, model and clients.

The context is built in ``worker_process_init`` (after Celery forks), never in the parent,
and kept in a ``ContextHolder`` that the tasks read; TensorFlow and LiteRT hang when a model
is loaded before the fork. Its ``FeatureWriter`` caches the features of classified photos for
retraining on a background thread started on first use (after the fork too).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import redis

from core.model.api import Prediction
from core.model.features import FeatureCache, FeatureWriter
from core.model.sources import backbone_id
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.warehouse import Warehouse, open_warehouse
from workers.infrastructure.interaction_log import InteractionLog
from workers.services.feedback import AnswerLog
from workers.transient import TransientError

log = logging.getLogger(__name__)


class Predictor(Protocol):
    """What a worker needs from the model (ModelHandle fits; tests plug in their own)."""

    def predict_inputs(self, batch: np.ndarray) -> list[Prediction]:
        """Predict for prepared model inputs, uint8 ``(N, 224, 224, 3)``."""


PredictorFactory = Callable[[Settings, ImageStore], Predictor]


@dataclass
class WorkerContext:
    """Everything a task's logic needs, opened once per worker process."""

    settings: Settings
    store: ImageStore
    warehouse: Warehouse
    model: Predictor
    redis: redis.Redis
    interactions: InteractionLog
    answers: AnswerLog
    features: FeatureWriter


class ContextHolder:
    """The one WorkerContext of this process, set by the lifecycle hook.

    Building it can meet a busy resource (a warehouse file another process holds for
    longer than a call waits): the process then keeps trying on a thread, and tasks
    meanwhile wait a little for it, then fail as transient (retried later), instead of the
    process staying without a context for good.
    """

    def __init__(self, *, wait: float = 10.0, retry: float = 1.0, retry_max: float = 30.0) -> None:
        self.wait, self.retry, self.retry_max = wait, retry, retry_max
        self._context: WorkerContext | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._building = False

    def set(self, context: WorkerContext | None) -> None:
        """Install (or clear) this process's context; a replaced one writes its queued features."""
        previous, self._context = self._context, context
        if context is not None:
            self._ready.set()
        if previous is not None and previous is not context:
            previous.features.close()

    def build(
        self, opening: Callable[[], WorkerContext], started: Callable[[WorkerContext], None]
    ) -> None:
        """Open the context now, or keep trying on a thread when that fails.

        ``started`` runs once with the context that was installed (the flusher starts there).
        """
        self._closed.clear()
        try:
            context = opening()
        except Exception:
            log.warning("worker context not built; trying again", exc_info=True)
            self._building = True
            trying = threading.Thread(
                target=self._keep_trying, args=(opening, started), name="worker-context"
            )
            trying.daemon = True
            trying.start()
            return
        self._install(context, started)

    def stop_building(self) -> None:
        """Stop trying to build a context (process shutdown); none is installed after this."""
        with self._lock:
            self._closed.set()
            self._building = False

    def get(self) -> WorkerContext:
        """Return the context; a transient error while it is still being built."""
        context = self._context
        if context is not None:
            return context
        if not self._building:
            raise RuntimeError("worker context missing: worker_process_init did not run")
        self._ready.wait(self.wait)
        if self._context is None:
            raise TransientError("worker context not built yet (a resource it needs is busy)")
        return self._context

    def _keep_trying(
        self, opening: Callable[[], WorkerContext], started: Callable[[WorkerContext], None]
    ) -> None:
        delay = self.retry
        while not self._closed.wait(delay):
            try:
                context = opening()
            except Exception:
                delay = min(delay * 2, self.retry_max)
                log.warning("worker context not built yet; again in %.0f s", delay, exc_info=True)
                continue
            self._install(context, started)
            return

    def _install(self, context: WorkerContext, started: Callable[[WorkerContext], None]) -> None:
        with self._lock:
            if self._closed.is_set():
                context.features.close()  # built while the process was shutting down
                return
            started(context)
            self.set(context)
            self._building = False
        log.info("worker context ready")


def production_model(settings: Settings, store: ImageStore) -> Predictor:
    """Return a handle on the registry's production model, loaded now (after the fork)."""
    from core.model.handle import ModelHandle

    handle = ModelHandle.from_settings(settings, store)
    handle.get()
    return handle


def load_factory(spec: str | None) -> PredictorFactory:
    """Resolve ``module:callable`` to a predictor factory; None means the production model."""
    if spec is None:
        return production_model
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"classifier factory must look like module:callable, not {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    return cast(PredictorFactory, factory)


def open_context(settings: Settings, factory: PredictorFactory) -> WorkerContext:
    """Open store, warehouse, Redis and model for this process."""
    store = open_store(settings)
    # The flusher writes every ``flush_seconds``: keeping the DuckDB file open between its
    # flushes saves opening it (a fifth of the worker's CPU at 30 photos/s) twice a flush.
    warehouse = open_warehouse(settings, hold_while_busy=True)
    model = factory(settings, store)
    url = settings.redis.url
    if url is None:
        raise RuntimeError("REDIS_URL is not set")
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    log.info("worker context opened (model factory %s)", getattr(factory, "__name__", factory))
    interactions = InteractionLog(client, warehouse)
    return WorkerContext(
        settings,
        store,
        warehouse,
        model,
        client,
        interactions,
        AnswerLog(client, warehouse, interactions),
        FeatureWriter(FeatureCache(store, backbone_id(settings))),
    )
