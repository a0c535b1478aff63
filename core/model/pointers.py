"""Registry pointers: one small JSON object on the ImageStore naming a version.

Moving a pointer is a single object write, so readers see the old or the new version, never
a mix. The registry keeps two: ``production`` (with its history) and ``staging``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.errors import ModelArtifactError, ObjectNotFound
from core.storage.base import ImageStore


class Pointer:
    """A JSON object ``{"version", ..., "updated_at"}`` at one key of a store."""

    def __init__(self, store: ImageStore, key: str) -> None:
        self.store = store
        self.key = key

    def read(self) -> dict[str, Any] | None:
        """Return the pointer's fields, or None when it is not set."""
        try:
            data = self.store.get(self.key)
        except ObjectNotFound:
            return None
        try:
            pointer = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            pointer = None
        if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), str):
            raise ModelArtifactError(f"the pointer {self.key} is unreadable")
        return pointer

    def version(self) -> str | None:
        """Return the version pointed at, or None."""
        pointer = self.read()
        return None if pointer is None else str(pointer["version"])

    def write(self, version: str, **fields: Any) -> None:
        """Point at ``version`` (with extra fields) in one write."""
        body = {"version": version, **fields, "updated_at": datetime.now(UTC).isoformat()}
        self.store.put(self.key, json.dumps(body, indent=2, sort_keys=True).encode(),
                       "application/json")  # fmt: skip

    def clear(self) -> None:
        """Unset the pointer."""
        self.store.delete(self.key)
