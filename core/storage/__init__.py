"""ImageStore port and its adapters, chosen from settings by ``open_store``."""

from __future__ import annotations

from core.settings import Settings
from core.storage.base import ImageStore, check_key
from core.storage.local import LocalStore

__all__ = ["ImageStore", "LocalStore", "check_key", "open_store"]


def open_store(settings: Settings) -> ImageStore:
    """Build the ImageStore that settings ask for.

    A local store makes its directory; a bucket is Terraform's (infra/modules/storage), so
    opening one only checks that it is there (MissingInfrastructure otherwise).
    """
    if settings.storage.backend == "gcs":
        from google.cloud import storage  # type: ignore[attr-defined]

        from core.storage.gcs import GcsStore

        client = storage.Client(project=settings.gcp.project)
        assert settings.storage.bucket is not None  # noqa: S101  (checked by Settings)
        store = GcsStore(client, settings.storage.bucket, settings.storage.prefix)
        store.ping()
        return store
    root = settings.storage_root
    if settings.storage.prefix:
        root = root / settings.storage.prefix
    return LocalStore(root)
