"""Registry pointers: one small JSON object on the ImageStore naming a version.

Moving a pointer is a single object write, so readers see the old or the new version, never
a mix; and it is a compare-and-swap on the version of the pointer that was read, so two
moves at once never lose one another (the loser reads again and decides again). The
registry keeps two: ``production`` (with its history) and ``staging``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import ModelArtifactError, ObjectNotFound
from core.storage.base import ImageStore

_ATTEMPTS = 20


class Pointer:
    """A JSON object ``{"version", ..., "updated_at"}`` at one key of a store."""

    def __init__(self, store: ImageStore, key: str) -> None:
        self.store = store
        self.key = key

    def read(self) -> dict[str, Any] | None:
        """Return the pointer's fields, or None when it is not set."""
        return self._read()[0]

    def move(self, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> None:
        """Set the pointer to ``change(current)`` atomically (None from ``change``: no move).

        When another move came between the read and the write, read and decide again.
        """
        for _ in range(_ATTEMPTS):
            current, token = self._read()
            fields = change(current)
            if fields is None or fields == current:
                return
            body = {**fields, "updated_at": datetime.now(UTC).isoformat()}
            data = json.dumps(body, indent=2, sort_keys=True).encode()
            if self.store.replace(self.key, data, token, "application/json"):
                return
        raise ModelArtifactError(f"the pointer {self.key} kept changing; try again")

    def _read(self) -> tuple[dict[str, Any] | None, str | None]:
        try:
            data, token = self.store.get_versioned(self.key)
        except ObjectNotFound:
            return None, None
        try:
            pointer = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            pointer = None
        if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), str):
            raise ModelArtifactError(f"the pointer {self.key} is unreadable")
        return pointer, token

    def version(self) -> str | None:
        """Return the version pointed at, or None."""
        pointer = self.read()
        return None if pointer is None else str(pointer["version"])

    def write(self, version: str, **fields: Any) -> None:
        """Point at ``version`` (with extra fields), whatever it pointed at."""
        self.move(lambda current: {"version": version, **fields})

    def clear(self) -> None:
        """Unset the pointer."""
        self.store.delete(self.key)
