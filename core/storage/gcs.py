"""ImageStore on Google Cloud Storage (or the gcp-storage-emulator in tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from core.errors import ObjectNotFound
from core.storage.base import check_key

if TYPE_CHECKING:
    from google.cloud import storage  # type: ignore[attr-defined]


class GcsStore:
    """Objects are blobs in one bucket under an optional prefix."""

    def __init__(self, client: storage.Client, bucket: str, prefix: str = "") -> None:
        self._bucket = client.bucket(bucket)
        self.bucket_name = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    def _name(self, key: str) -> str:
        return self._prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Upload in one request; GCS makes a single object write atomic."""
        blob = self._bucket.blob(self._name(key))
        blob.upload_from_string(data, content_type=content_type or "application/octet-stream")

    def get(self, key: str) -> bytes:
        """Download the blob."""
        try:
            data: bytes = self._bucket.blob(self._name(key)).download_as_bytes()
        except gexc.NotFound as exc:
            raise ObjectNotFound(key) from exc
        return data

    def exists(self, key: str) -> bool:
        """Tell whether the blob exists."""
        return bool(self._bucket.blob(self._name(key)).exists())

    def list(self, prefix: str = "") -> list[str]:
        """List blob names under the prefix, without the store's own prefix."""
        blobs = self._bucket.client.list_blobs(self._bucket, prefix=self._prefix + prefix)
        return sorted(blob.name[len(self._prefix) :] for blob in blobs)

    def delete(self, key: str) -> bool:
        """Delete the blob."""
        try:
            self._bucket.blob(self._name(key)).delete()
        except gexc.NotFound:
            return False
        return True

    def uri(self, key: str) -> str:
        """Return a gs:// URI."""
        return f"gs://{self.bucket_name}/{self._name(key)}"

    def ping(self) -> None:
        """Check that the bucket exists and is reachable."""
        if not self._bucket.exists():
            raise OSError(f"bucket {self.bucket_name} not found")
