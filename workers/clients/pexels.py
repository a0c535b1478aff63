"""Pexels API client: ``GET /v1/search`` with ``Authorization: <key>``.

Pexels asks for a visible credit to the photographer and to Pexels; it is stored with
the photo.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from workers.clients.photo_api import (
    ApiClient,
    PhotoCandidate,
    PhotoSourceError,
    SearchPage,
    checked_download_url,
    field,
)

LICENSE = "Pexels License (https://www.pexels.com/license/)"
DOWNLOAD_HOSTS = ("images.pexels.com",)  # where its photos are served (https)
MAX_PER_PAGE = 80


class PexelsSource:
    """Searches Pexels and downloads the ``medium`` rendition (350 px high)."""

    name = "pexels"

    def __init__(
        self,
        client: ApiClient,
        base_url: str,
        api_key: str,
        download_hosts: Collection[str] = DOWNLOAD_HOSTS,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.download_hosts = download_hosts
        self._headers = {"Authorization": api_key}

    def search(self, query: str, page: int, per_page: int) -> SearchPage:
        """Return one page of photos for ``query``."""
        body = self.client.get_json(
            f"{self.base_url}/search",
            {"query": query, "page": page, "per_page": min(per_page, MAX_PER_PAGE)},
            self._headers,
        )
        photos = field(body, "photos")
        if not isinstance(photos, list):
            raise PhotoSourceError("pexels: photos is not a list")
        has_more = bool(body.get("next_page"))
        return SearchPage([c for c in map(_candidate, photos) if c is not None], has_more)

    def download(self, candidate: PhotoCandidate, max_bytes: int) -> bytes:
        """Fetch the image (from the photo CDN or the API, nowhere else)."""
        url = checked_download_url(candidate.download_url, self.base_url, self.download_hosts)
        return self.client.get_bytes(url, max_bytes)


def _candidate(item: Any) -> PhotoCandidate | None:
    try:
        photographer = str(field(item, "photographer"))
        return PhotoCandidate(
            source="pexels",
            source_id=str(field(item, "id")),
            download_url=str(field(item, "src", "medium")),
            page_url=str(field(item, "url")),
            license=LICENSE,
            attribution=(
                f"Photo by {photographer} ({field(item, 'photographer_url')}) on Pexels "
                "(https://www.pexels.com)"
            ),
        )
    except PhotoSourceError:
        return None
