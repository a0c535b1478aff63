"""ImageStore on Google Cloud Storage (or the gcp-storage-emulator in tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from core.errors import MissingInfrastructure, ObjectNotFound
from core.storage.base import check_key

if TYPE_CHECKING:
    from google.cloud import storage  # type: ignore[attr-defined]


_NO_GENERATION = ""  # the token of an object whose server reports no generation


class GcsStore:
    """Objects are blobs in one bucket under an optional prefix."""

    def __init__(self, client: storage.Client, bucket: str, prefix: str = "") -> None:
        self._client = client
        self._bucket = client.bucket(bucket)
        self.bucket_name = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    def _name(self, key: str) -> str:
        return self._prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Upload in one request; GCS makes a single object write atomic."""
        blob = self._bucket.blob(self._name(key))
        blob.upload_from_string(data, content_type=content_type or "application/octet-stream")

    def create(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        """Upload on condition that no generation exists (``ifGenerationMatch=0``)."""
        return self.replace(key, data, None, content_type)

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        """Download one generation; its number is the token."""
        blob = self._bucket.get_blob(self._name(key))
        if blob is None:
            raise ObjectNotFound(key)
        generation = blob.generation  # read before the download, which may rewrite it
        if generation is None:  # a server without generations (the local emulator)
            return blob.download_as_bytes(), _NO_GENERATION
        try:
            data: bytes = blob.download_as_bytes(if_generation_match=generation)
        except (gexc.NotFound, gexc.PreconditionFailed) as exc:  # replaced meanwhile
            raise ObjectNotFound(key) from exc
        return data, str(generation)

    def replace(
        self, key: str, data: bytes, token: str | None, content_type: str | None = None
    ) -> bool:
        """Upload on condition that the generation is still ``token`` (0: none exists)."""
        blob = self._bucket.blob(self._name(key))
        kind = content_type or "application/octet-stream"
        if token == _NO_GENERATION:  # it said it keeps none: the write cannot be conditional
            blob.upload_from_string(data, content_type=kind)
            return True
        try:
            blob.upload_from_string(data, content_type=kind,
                                    if_generation_match=int(token) if token else 0)  # fmt: skip
        except gexc.PreconditionFailed:
            return False
        return True

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
        blobs = self._client.list_blobs(self._bucket, prefix=self._prefix + prefix)
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
        """Check that the bucket exists and is reachable, by listing at most one object.

        Listing needs only object access (``storage.objects.list``), which every account
        with a role on the bucket has; fetching the bucket itself would need a bucket role.
        """
        try:
            list(self._client.list_blobs(self._bucket, prefix=self._prefix, max_results=1))
        except gexc.NotFound as exc:
            raise MissingInfrastructure(
                f"bucket {self.bucket_name} not found; it is created by Terraform "
                f"(infra/modules/storage): run `terraform apply` in infra/envs/<env>"
            ) from exc
