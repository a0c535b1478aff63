"""What a running server holds, created in the app's lifespan and reached from routes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from core.forgotten import ForgetRecord
from core.metrics.sink import MetricsSink
from core.model.features import FeatureWriter
from core.settings import Settings
from core.storage import ImageStore
from core.warehouse import Warehouse
from model_server.abuse import AbuseLimits
from model_server.batching import MicroBatcher
from model_server.metrics import ServerMetrics
from model_server.model import ModelService

SESSION_COOKIE = "creature_vis_session"
_SESSION_MAX_AGE = 365 * 24 * 3600


@dataclass
class ServerState:
    """Clients and the model of one server process."""

    settings: Settings
    store: ImageStore
    warehouse: Warehouse
    model: ModelService
    batcher: MicroBatcher
    metrics: ServerMetrics
    features: FeatureWriter
    errors: MetricsSink  # server-side failures, for the "errors by component" panel
    forgotten: ForgetRecord
    limits: AbuseLimits


def get_state(request: Request) -> ServerState:
    """Return the running server's state (set by the lifespan)."""
    state: ServerState = request.app.state.server
    return state


AppState = Annotated[ServerState, Depends(get_state)]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a web page session (cookie) or an API client."""

    channel: str  # "web" or "api"
    user_id: str | None


def get_caller(request: Request) -> Caller:
    """Identify the caller from the page's session cookie; without one it is an API call."""
    session = request.cookies.get(SESSION_COOKIE, "")
    if len(session) == 32 and all(c in "0123456789abcdef" for c in session):
        return Caller("web", f"web:{session}")
    return Caller("api", None)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def admit(request: Request, state: AppState, caller: CurrentCaller) -> str:
    """Count the request against the caller's limits; return whose storage quota it uses."""
    address = state.limits.client_address(request)
    state.limits.admit(address, caller.user_id)
    return caller.user_id or f"address:{address}"


# A route that takes ``Admitted`` is rate-limited; its value names the caller's quota.
Admitted = Annotated[str, Depends(admit)]


def ensure_session(request: Request, response: Response) -> None:
    """Give a page visitor a random session id (their anonymous web user id)."""
    if get_caller(request).channel != "web":
        new_session(request, response)


def new_session(request: Request, response: Response) -> None:
    """Set a new random session id, replacing any the visitor has."""
    response.set_cookie(
        SESSION_COOKIE,
        secrets.token_hex(16),
        max_age=_SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
