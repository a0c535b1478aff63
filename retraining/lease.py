"""A lock with a lease, kept as one small object on an ImageStore.

Whoever creates the object holds the lock until they delete it or its lease runs out; an
expired lease is taken over with a compare-and-swap, so two contenders never both win. It
works wherever the store does (a directory, Cloud Storage), across processes and machines.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from core.errors import CreatureVisError, ObjectNotFound
from core.storage.base import ImageStore


class LeaseHeld(CreatureVisError):
    """Someone else holds the lock and their lease has not run out."""

    user_message = "That work is already running."


class Lease:
    """The lock at ``key``: ``acquire`` for ``seconds``, ``release`` when done."""

    def __init__(self, store: ImageStore, key: str, seconds: float) -> None:
        self.store = store
        self.key = key
        self.seconds = seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> None:
        """Take the lock, or an expired lease; raise LeaseHeld when another holds it."""
        now = datetime.now(UTC)
        until = (now + timedelta(seconds=self.seconds)).isoformat()
        body = json.dumps({"holder": self.holder, "until": until}).encode()
        if self.store.create(self.key, body, "application/json"):
            return
        try:
            data, token = self.store.get_versioned(self.key)
        except ObjectNotFound:  # released meanwhile
            if self.store.create(self.key, body, "application/json"):
                return
            raise LeaseHeld(f"{self.key} was taken meanwhile") from None
        held = json.loads(data)
        if datetime.fromisoformat(held["until"]) > now:
            raise LeaseHeld(f"{self.key} is held by {held['holder']} until {held['until']}")
        if not self.store.replace(self.key, body, token, "application/json"):
            raise LeaseHeld(f"{self.key} was taken over meanwhile")

    def release(self) -> None:
        """Let go, if the lock is still ours."""
        try:
            held = json.loads(self.store.get(self.key))
        except ObjectNotFound:
            return
        if held.get("holder") == self.holder:
            self.store.delete(self.key)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()
