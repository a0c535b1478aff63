"""The ImageStore port: a flat key/value blob store with ``/``-separated keys."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.errors import UnsafeKey


@runtime_checkable
class ImageStore(Protocol):
    """Blob storage for photos, model artifacts and dataset manifests."""

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write ``data`` under ``key``, replacing any previous object atomically."""

    def get(self, key: str) -> bytes:
        """Return the object's bytes; raise ObjectNotFound when it is missing."""

    def create(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        """Write ``data`` under ``key`` only if nothing is there; return whether it was."""

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        """Return the object's bytes and a token for exactly this version of it."""

    def replace(
        self, key: str, data: bytes, token: str | None, content_type: str | None = None
    ) -> bool:
        """Compare-and-swap: write ``data`` only if ``key`` still holds version ``token``.

        ``None`` means no object may be there. Return whether it was written.
        """

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` holds an object."""

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys that start with ``prefix``, sorted."""

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether something was there."""

    def uri(self, key: str) -> str:
        """Return a location string for people and logs (``file://`` or ``gs://``)."""

    def ping(self) -> None:
        """Raise when the store cannot be reached."""


def check_key(key: str) -> str:
    """Return ``key`` when it is a safe relative key; raise UnsafeKey otherwise."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise UnsafeKey(f"unsafe key {key!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeKey(f"unsafe key {key!r}")
    return key
