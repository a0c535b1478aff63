"""Unsplash API client: ``GET /search/photos`` with ``Authorization: Client-ID <key>``.

Unsplash asks API users to call each photo's ``links.download_location`` when they download
it, and to credit the photographer and Unsplash with links; both are done here.
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
    same_origin,
)

LICENSE = "Unsplash License (https://unsplash.com/license)"
DOWNLOAD_HOSTS = ("images.unsplash.com",)  # where its photos are served (https)
MAX_PER_PAGE = 30
_REFERRAL = "utm_source=creature_vis&utm_medium=referral"


class UnsplashSource:
    """Searches Unsplash and downloads the ``small`` rendition (400 px wide)."""

    name = "unsplash"

    def __init__(
        self,
        client: ApiClient,
        base_url: str,
        access_key: str,
        download_hosts: Collection[str] = DOWNLOAD_HOSTS,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.download_hosts = download_hosts
        self._headers = {"Authorization": f"Client-ID {access_key}", "Accept-Version": "v1"}

    def search(self, query: str, page: int, per_page: int) -> SearchPage:
        """Return one page of photos for ``query`` (safe-search on)."""
        body = self.client.get_json(
            f"{self.base_url}/search/photos",
            {
                "query": query,
                "page": page,
                "per_page": min(per_page, MAX_PER_PAGE),
                "content_filter": "high",
            },
            self._headers,
        )
        results = field(body, "results")
        if not isinstance(results, list):
            raise PhotoSourceError("unsplash: results is not a list")
        total_pages = body.get("total_pages")
        has_more = isinstance(total_pages, int) and page < total_pages
        return SearchPage([c for c in map(_candidate, results) if c is not None], has_more)

    def download(self, candidate: PhotoCandidate, max_bytes: int) -> bytes:
        """Register the download with Unsplash, then fetch the image."""
        url = checked_download_url(candidate.download_url, self.base_url, self.download_hosts)
        if candidate.track_url:
            # The access key goes to the API itself only, never where a response points.
            if not same_origin(candidate.track_url, self.base_url):
                raise PhotoSourceError(f"unsplash: track URL off the API: {candidate.track_url}")
            self.client.get_json(candidate.track_url, {}, self._headers)
        return self.client.get_bytes(url, max_bytes)


def _candidate(item: Any) -> PhotoCandidate | None:
    try:
        name = str(field(item, "user", "name"))
        profile = str(field(item, "user", "links", "html"))
        return PhotoCandidate(
            source="unsplash",
            source_id=str(field(item, "id")),
            download_url=str(field(item, "urls", "small")),
            page_url=str(field(item, "links", "html")),
            license=LICENSE,
            attribution=(
                f"Photo by {name} ({profile}?{_REFERRAL}) on Unsplash "
                f"(https://unsplash.com/?{_REFERRAL})"
            ),
            track_url=str(field(item, "links", "download_location")),
        )
    except PhotoSourceError:
        return None
