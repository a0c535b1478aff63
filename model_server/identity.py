"""Who is calling: a signed web session cookie, an admin-issued API key, or an anonymous address.

The session cookie reads ``<session>.<signature>``, the signature an HMAC of the session id
under ``server.session_secret``; a cookie whose signature does not verify names nobody (the
page then issues a new one). An API key (``Authorization: Bearer <key>`` or ``X-API-Key``)
names ``key:<key_id>``; keys are looked up in the warehouse and believed for
``server.api_key_cache_seconds``, so a revocation reaches a running server within that time.
Without either, the caller is ``api:<digest>``, a keyed digest of its address: stable per
address, but not reversible without the secret (a plain hash of an IPv4 address would be).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from fastapi import Request

from core.api_keys import ApiKey, find_key, key_id_of, matches
from core.errors import ConfigurationError, UnknownApiKey
from core.people import anonymous_api_caller, web_session
from core.settings import Profile, Settings, env_name
from core.warehouse import Warehouse

SECRET_FILE = "session-secret"  # noqa: S105  (a file name, not a secret)
_MAX_CACHED_KEYS = 10_000


def session_secret(settings: Settings) -> bytes:
    """The signing secret: from settings, or on the local profile one kept under the data dir."""
    configured = settings.server.session_secret
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    if settings.profile is Profile.GCP:
        raise ConfigurationError(
            f"{env_name('server', 'session_secret')} is required on the gcp profile "
            "(Secret Manager: <prefix>-session-secret)"
        )
    return _local_secret(settings.data_dir / SECRET_FILE)


def _local_secret(path: Path) -> bytes:
    """Read the secret file, creating it once (atomically, owner-only) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            os.link(draft, path)  # fails if another process published one first: use theirs
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip().encode()


class Identity:
    """Signs and checks session cookies and names anonymous callers, with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._session_key = hmac.new(secret, b"web-session", hashlib.sha256).digest()
        self._address_key = hmac.new(secret, b"api-address", hashlib.sha256).digest()

    def new_cookie(self) -> str:
        """A fresh session cookie value."""
        session = secrets.token_hex(16)
        return f"{session}.{self._sign(session)}"

    def session_of(self, cookie: str) -> str | None:
        """The session id a cookie carries, or None when it is not one we signed."""
        session, _, signature = cookie.partition(".")
        if len(session) != 32 or not signature:
            return None
        return session if hmac.compare_digest(signature, self._sign(session)) else None

    def web_user(self, cookie: str) -> str | None:
        """The user id of the session a cookie carries (None: not a cookie we signed)."""
        session = self.session_of(cookie)
        return None if session is None else web_session(session)

    def anonymous_caller(self, address: str) -> str:
        """The user id of an API caller without a key, from its address."""
        digest = hmac.new(self._address_key, address.encode(), hashlib.sha256).hexdigest()
        return anonymous_api_caller(digest[:20])

    def _sign(self, session: str) -> str:
        return hmac.new(self._session_key, session.encode(), hashlib.sha256).hexdigest()


def presented_key(request: Request) -> str | None:
    """The API key the request carries, if any; a non-Bearer Authorization is refused."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise UnknownApiKey("Authorization is not a Bearer key")
        return credentials.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key is not None else None


class KeyCache:
    """Keys looked up in the warehouse, each believed for ``ttl`` seconds."""

    def __init__(
        self, warehouse: Warehouse, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.warehouse, self.ttl, self.clock = warehouse, ttl, clock
        self._entries: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, key_id: str) -> ApiKey | None:
        """The record of ``key_id`` as of at most ``ttl`` seconds ago (None: never issued)."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key_id)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        record = find_key(self.warehouse, key_id)
        with self._lock:
            self._entries.pop(key_id, None)
            self._entries[key_id] = (now, record)
            while len(self._entries) > _MAX_CACHED_KEYS:
                self._entries.popitem(last=False)
        return record

    def holder(self, key: str) -> ApiKey:
        """The record of the key ``key``; raise UnknownApiKey when it is unknown or revoked."""
        key_id = key_id_of(key)
        record = self.lookup(key_id) if key_id is not None else None
        if record is None or not matches(record, key):
            raise UnknownApiKey(f"key {key_id or '(malformed)'} is unknown or revoked")
        return record
