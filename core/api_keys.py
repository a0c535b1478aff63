"""API keys an admin issues and revokes; the key, not a request body, names the caller.

A key reads ``cvk_<key_id>_<secret>``. Only the sha256 of the whole key is stored (in the
warehouse's ``api_keys`` table, append-only: an ``issued`` row, later a ``revoked`` row), so
the key is shown once, when it is made. The caller it names is ``key:<key_id>``. An admin key
(``role`` admin) makes its holder's answers an admin's: trusted outright, and allowed to judge
models, the way a Telegram admin's are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from core.errors import UnknownApiKey
from core.people import key_holder
from core.warehouse.base import Row, Warehouse
from core.warehouse.records import utcnow

PREFIX = "cvk_"
_KEY_ID_HEX = 12
_KEY_PATTERN = re.compile(rf"^{PREFIX}([0-9a-f]{{{_KEY_ID_HEX}}})_([A-Za-z0-9_-]{{43}})$")

_ROWS_OF_KEY_SQL = """
SELECT key_id, event, created_at, key_hash, note, operator, role FROM api_keys
WHERE key_id = @key_id
"""
_ALL_ROWS_SQL = """
SELECT key_id, event, created_at, key_hash, note, operator, role FROM api_keys
ORDER BY created_at, key_id, event
"""


@dataclass(frozen=True)
class ApiKey:
    """What is known about one key (never the key itself)."""

    key_id: str
    key_hash: str
    note: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    admin: bool = False

    @property
    def user_id(self) -> str:
        """The person this key names in interactions and answers."""
        return key_holder(self.key_id)

    @property
    def active(self) -> bool:
        """Whether the key still works."""
        return self.revoked_at is None


def key_hash(key: str) -> str:
    """The stored digest of ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The id part of a well-formed key, or None when ``key`` cannot be one of ours."""
    match = _KEY_PATTERN.fullmatch(key.strip())
    return match.group(1) if match else None


def issue_key(
    warehouse: Warehouse, *, note: str, operator: str, admin: bool = False
) -> tuple[str, ApiKey]:
    """Make a new key (an admin's with ``admin``); return it (shown once) and its record."""
    key_id = secrets.token_hex(_KEY_ID_HEX // 2)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(key_id, key_hash(key), note, utcnow(), None, admin)
    row = {"key_id": key_id, "event": "issued", "created_at": record.created_at,
           "key_hash": record.key_hash, "note": note, "operator": operator,
           "role": "admin" if admin else "person"}  # fmt: skip
    warehouse.insert("api_keys", [row])
    return key, record


def revoke_key(warehouse: Warehouse, key_id: str, *, operator: str) -> ApiKey:
    """Revoke key ``key_id`` (again is a no-op); raise UnknownApiKey when none was issued."""
    record = find_key(warehouse, key_id)
    if record is None:
        raise UnknownApiKey(f"no API key {key_id!r} was issued")
    if not record.active:
        return record
    now = utcnow()
    row = {"key_id": key_id, "event": "revoked", "created_at": now, "operator": operator}
    warehouse.insert("api_keys", [row])
    return ApiKey(record.key_id, record.key_hash, record.note, record.created_at, now, record.admin)


def find_key(warehouse: Warehouse, key_id: str) -> ApiKey | None:
    """The record of key ``key_id``, revoked or not; None when it was never issued."""
    found = _records(warehouse.query(_ROWS_OF_KEY_SQL, {"key_id": key_id}))
    return found[0] if found else None


def list_keys(warehouse: Warehouse) -> list[ApiKey]:
    """Every key issued, oldest first."""
    return _records(warehouse.query(_ALL_ROWS_SQL))


def matches(record: ApiKey | None, key: str) -> bool:
    """Whether ``key`` is the active key of ``record`` (compared in constant time)."""
    return (
        record is not None
        and record.active
        and hmac.compare_digest(record.key_hash, key_hash(key.strip()))
    )


def _records(rows: list[Row]) -> list[ApiKey]:
    issued = {row["key_id"]: row for row in rows if row["event"] == "issued"}
    revoked = {row["key_id"]: row["created_at"] for row in rows if row["event"] == "revoked"}
    return [
        ApiKey(
            key_id=key_id,
            key_hash=str(row["key_hash"]),
            note=str(row["note"] or ""),
            created_at=row["created_at"],
            revoked_at=revoked.get(key_id),
            admin=row.get("role") == "admin",
        )
        for key_id, row in issued.items()
    ]
