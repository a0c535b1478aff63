"""Callback records: the server-side half of every inline button.

Button data carries only a random short id. The record it names (which prediction, whose
photo, which message) lives in Redis with a TTL, so data typed or replayed by anyone else
cannot reach a prediction it was not issued for.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field

from redis.asyncio import Redis

_PREFIX = "creature_vis:bot:callback:"
_USER_PREFIX = "creature_vis:bot:callbacks-of:"  # a user's short ids, for /forget
_SHORT_ID = r"[A-Za-z0-9_-]{12}"
_DATA = re.compile(
    rf"^(?P<kind>ok|no|cx):(?P<sid>{_SHORT_ID})$"
    rf"|^lb:(?P<lsid>{_SHORT_ID}):(?P<i>\d{{1,2}})$"
)


@dataclass(frozen=True)
class CallbackRecord:
    """What a short id stands for: a prediction shown in one message to one user."""

    interaction_id: str
    user_id: int
    chat_id: int
    message_id: int
    model_version: str
    top3: list[tuple[str, float]]
    answer: list[str] = field(default_factory=list)  # the labels shown; [] = the top label


@dataclass(frozen=True)
class ButtonPress:
    """Parsed button data: the action, the short id and, for a label choice, its index."""

    kind: str  # ok, no, cx or lb
    short_id: str
    label_index: int | None = None


def parse_data(data: str | None) -> ButtonPress | None:
    """Return the parsed button data, or None when it is not data this bot issues."""
    match = _DATA.match(data or "")
    if match is None:
        return None
    if match["kind"]:
        return ButtonPress(match["kind"], match["sid"])
    return ButtonPress("lb", match["lsid"], int(match["i"]))


class CallbackStore:
    """Short ids to CallbackRecords in Redis, each expiring after ``ttl_seconds``."""

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def issue(self, record: CallbackRecord) -> str:
        """Store ``record`` under a fresh unguessable short id and return the id."""
        while True:
            short_id = secrets.token_urlsafe(9)  # 12 characters, 72 random bits
            stored = await self._redis.set(
                _PREFIX + short_id, json.dumps(asdict(record)), ex=self._ttl, nx=True
            )
            if stored:
                mine = f"{_USER_PREFIX}{record.user_id}"
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.sadd(mine, short_id)
                    pipe.expire(mine, self._ttl)
                    await pipe.execute()
                return short_id

    async def get(self, short_id: str) -> CallbackRecord | None:
        """Return the record for ``short_id``, or None when unknown or expired."""
        raw = await self._redis.get(_PREFIX + short_id)
        if raw is None:
            return None
        values = json.loads(raw)
        values["top3"] = [(str(label), float(p)) for label, p in values["top3"]]
        return CallbackRecord(**values)

    async def revoke_user(self, user_id: int) -> int:
        """Make every button issued to ``user_id`` stale; return how many there were."""
        mine = f"{_USER_PREFIX}{user_id}"
        short_ids = [
            m.decode() if isinstance(m, bytes) else str(m) for m in await self._redis.smembers(mine)
        ]
        if short_ids:
            await self._redis.delete(*(_PREFIX + short_id for short_id in short_ids))
        await self._redis.delete(mine)
        return len(short_ids)
