"""The model server: ``create_app(settings)`` builds the FastAPI app.

Clients (store, warehouse) and the model handle are created in the lifespan, never at import
time. The model is loaded on the model thread right after start-up (``/readyz`` turns ready
when it is), and re-checked every ``settings.model.reload_seconds`` so a moved production
(or staging) pointer is picked up without a restart. The features of every predicted photo
go to the retraining feature cache from a background writer, and photos and interaction rows
to the warehouse from the prediction log, both behind the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from core.forget import forget_person
from core.forgotten import ForgetRecord
from core.metrics import open_sink
from core.model.features import FeatureCache, FeatureWriter
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.warehouse import Warehouse, open_warehouse
from model_server.abuse import AbuseLimits
from model_server.batching import MicroBatcher
from model_server.errors import install_error_handlers
from model_server.identity import Identity, KeyCache, session_secret
from model_server.limits import BodyLimitMiddleware, SecurityHeadersMiddleware
from model_server.metrics import MetricsMiddleware, ServerMetrics
from model_server.model import ModelFactory, ModelService, default_model_factory
from model_server.prediction_log import PredictionLog, PredictionWriter
from model_server.routes import catalogue, feedback, forget, health, images, predictions, web
from model_server.state import ServerState
from model_server.tracing import TraceLogMiddleware

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "web" / "static"
# Multipart framing and form fields on top of the photo itself.
_BODY_OVERHEAD = 256 * 1024


def create_app(
    settings: Settings,
    *,
    model_factory: ModelFactory | None = None,
    on_ready: Callable[[], object] | None = None,
) -> FastAPI:
    """Build the app; ``model_factory`` replaces how the ModelHandle is made (tests, tools).

    ``on_ready`` is called once, on the event loop, when the model has first loaded.
    """
    metrics = ServerMetrics()
    factory = model_factory or default_model_factory

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await asyncio.to_thread(_build_state, settings, metrics, factory)
        state.batcher.start()
        app.state.server = state
        watcher = asyncio.create_task(_follow_registry(state, on_ready), name="registry-watcher")
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await state.batcher.stop()
            await asyncio.to_thread(state.prediction_log.close)
            await asyncio.to_thread(state.features.close)
            await asyncio.to_thread(state.warehouse.close)

    app = FastAPI(
        title="creature-vis",
        version="1",
        summary="Animal photo classifier that learns from your corrections.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.images.max_bytes + _BODY_OVERHEAD)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(TraceLogMiddleware, project=settings.gcp.project)
    for module in (predictions, feedback, forget, images, catalogue, health, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _build_state(settings: Settings, metrics: ServerMetrics, factory: ModelFactory) -> ServerState:
    store = open_store(settings)
    warehouse = open_warehouse(settings, hold_while_busy=True)
    handle = factory(settings, store)
    model = ModelService(handle)
    batcher = MicroBatcher(
        model.predict_batch,
        max_size=settings.server.batch_max,
        max_wait=settings.server.batch_wait_ms / 1000,
        on_batch=metrics.batch_size.observe,
    )
    metrics.queue_depth.set_function(lambda: batcher.queued)
    features = FeatureWriter(FeatureCache(store, handle.registry.backbone))
    errors = open_sink(settings, warehouse)
    prediction_log = _prediction_log(settings, store, warehouse, features.cache.backbone)
    metrics.log_backlog.set_function(lambda: prediction_log.backlog)
    return ServerState(
        settings,
        store,
        warehouse,
        model,
        batcher,
        metrics,
        features,
        errors,
        ForgetRecord(store),
        AbuseLimits(settings.server),
        Identity(session_secret(settings)),
        KeyCache(warehouse, settings.server.api_key_cache_seconds),
        prediction_log,
    )


def _prediction_log(
    settings: Settings, store: ImageStore, warehouse: Warehouse, backbone: str
) -> PredictionLog:
    """The log writing photos and rows behind the answers; it forgets with the features."""

    def forget(user_id: str) -> None:
        forget_person(store, warehouse, user_id, [backbone])

    writer = PredictionWriter(store, warehouse, forget=forget)
    return PredictionLog(writer, wait=settings.server.log_wait_ms / 1000)


async def _follow_registry(state: ServerState, on_ready: Callable[[], object] | None) -> None:
    """Load the model at once, then re-check the production pointer periodically."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            version = await loop.run_in_executor(state.batcher.executor, state.model.load)
            state.metrics.serving(version)
        except Exception as exc:  # keep serving the loaded version; readyz shows the error
            log.error("model not loaded: %s", exc)
            state.model.load_error = str(exc)
        else:
            if on_ready is not None:
                ready = on_ready
                on_ready = None  # once
                try:
                    ready()
                except Exception:  # the hook must not stop the watcher
                    log.exception("the start-up hook failed")
        await asyncio.sleep(state.settings.model.reload_seconds)
