"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from model_server.schemas import HealthResponse
from model_server.state import AppState, ServerState

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="The process is up")
async def healthz() -> HealthResponse:
    """Answer as long as the process serves HTTP."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "Not ready (see checks)."}},
    summary="The model is loaded and the stores are reachable",
)
async def readyz(state: AppState) -> JSONResponse:
    """Report each dependency; 503 until every check passes."""
    checks = await run_in_threadpool(_checks, state)
    ready = all(value == "ok" for value in checks.values())
    body = HealthResponse(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: AppState) -> Response:
    """Prometheus text exposition."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _checks(state: ServerState) -> dict[str, str]:
    """Each dependency's state; what failed is logged here, never shown to the caller."""
    checks: dict[str, str] = {}
    model = state.model
    if model.loaded_version is not None:
        checks["model"] = "ok"
    elif model.load_error:
        log.warning("readyz: the model failed to load: %s", model.load_error)
        checks["model"] = "failed"
    else:
        checks["model"] = "loading"
    for name, ping in (("store", state.store.ping), ("warehouse", state.warehouse.ping)):
        try:
            ping()
            checks[name] = "ok"
        except Exception:  # any failure means not ready; say which, keep the details here
            log.warning("readyz: %s check failed", name, exc_info=True)
            checks[name] = "failed"
    return checks
