"""What a running server holds, created in the app's lifespan and reached from routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from core.forgotten import ForgetRecord
from core.metrics.sink import MetricsSink
from core.model.features import FeatureWriter
from core.settings import Settings
from core.storage import ImageStore
from core.warehouse import Warehouse
from model_server.abuse import AbuseLimits
from model_server.batching import MicroBatcher
from model_server.identity import Identity, KeyCache, presented_key
from model_server.metrics import ServerMetrics
from model_server.model import ModelService
from model_server.prediction_log import PredictionLog

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
    identity: Identity
    keys: KeyCache  # API keys, looked up in the warehouse
    prediction_log: PredictionLog  # photos and interactions, written behind the answers


def server_state(request: Request) -> ServerState:
    """Return the running server's state (set by the lifespan)."""
    state: ServerState = request.app.state.server
    return state


# The dependencies below are coroutines although none of them waits for anything: FastAPI
# runs a plain function dependency on a worker thread, a thread hop per dependency per request.


async def get_state(request: Request) -> ServerState:
    """The running server's state, as a dependency."""
    return server_state(request)


AppState = Annotated[ServerState, Depends(get_state)]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a web page session (cookie), a key holder, or an anonymous API call."""

    channel: str  # "web" or "api"
    user_id: str  # web:<session>, key:<key_id> or api:<digest of the address>
    keyed: bool = False  # named by an API key
    admin: bool = False  # ...an admin's key: its answers are an admin's

    @property
    def holder(self) -> str | None:
        """The session or key holder, who has a rate of their own and can be forgotten.

        None for an anonymous API call: it is known only by its address.
        """
        return self.user_id if self.channel == "web" or self.keyed else None


async def admit_address(request: Request, state: AppState) -> str:
    """Count the request against its client address's rate; return the address."""
    address = state.limits.client_address(request)
    state.limits.admit_address(address)
    return address


AdmittedAddress = Annotated[str, Depends(admit_address)]


# Documented in the OpenAPI document; the headers themselves are read by ``presented_key``.
_BEARER = HTTPBearer(
    auto_error=False, description="An API key an admin issued; it names you as key:<key_id>."
)
_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same API key, in a header of its own."
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]
KeyHeader = Annotated[str | None, Security(_KEY_HEADER)]


async def get_caller(
    request: Request, state: AppState, address: AdmittedAddress, _b: Bearer, _k: KeyHeader
) -> Caller:
    """Identify the caller: an API key first, then the page's signed session cookie.

    Without either the caller is anonymous. An unknown or revoked key is refused (401),
    never treated as anonymous: its holder would go on answering as nobody unawares.
    """
    key = presented_key(request)
    if key is not None:
        record = await run_in_threadpool(state.keys.holder, key)
        return Caller("api", record.user_id, keyed=True, admin=record.admin)
    web_user = state.identity.web_user(request.cookies.get(SESSION_COOKIE, ""))
    if web_user is not None:
        return Caller("web", web_user)
    return Caller("api", state.identity.anonymous_caller(address))


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def admit(state: AppState, caller: CurrentCaller) -> str:
    """Count the request against the caller's own rate; return whose storage quota it uses."""
    if caller.holder is not None:
        state.limits.admit_person(caller.holder)
    return caller.user_id


# A route that takes ``Admitted`` is rate-limited; its value names the caller's quota.
Admitted = Annotated[str, Depends(admit)]


def ensure_session(request: Request, response: Response) -> None:
    """Give a page visitor a signed session (their anonymous web user id) unless theirs holds."""
    identity = server_state(request).identity
    if identity.session_of(request.cookies.get(SESSION_COOKIE, "")) is None:
        new_session(request, response)


def new_session(request: Request, response: Response) -> None:
    """Set a new signed session, replacing any the visitor has."""
    response.set_cookie(
        SESSION_COOKIE,
        server_state(request).identity.new_cookie(),
        max_age=_SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
