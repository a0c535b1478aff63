"""What Unsplash and Pexels clients share: candidates, errors and a rate-aware HTTP client.

Both APIs report ``X-Ratelimit-Remaining``; Pexels adds ``X-Ratelimit-Reset`` (epoch
seconds). The client stops calling an API whose allowance is spent, and on 429 waits for
``Retry-After`` (or the reset time, or an exponential backoff) when that is short, else
gives up on that API for this run by raising RateLimited.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from core.errors import CreatureVisError

log = logging.getLogger(__name__)


class PhotoSourceError(CreatureVisError):
    """A photo API answered with an error or a body we cannot read."""


class RateLimited(PhotoSourceError):
    """A photo API's allowance is spent; ``retry_after`` seconds until it refills (if known)."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class PhotoCandidate:
    """A photo found by a search, with the provenance it must be stored with."""

    source: str
    source_id: str
    download_url: str
    page_url: str
    license: str
    attribution: str
    track_url: str | None = None  # Unsplash asks to be told when a photo is downloaded


@dataclass(frozen=True)
class SearchPage:
    """One page of search results."""

    candidates: list[PhotoCandidate]
    has_more: bool


class PhotoSource(Protocol):
    """A searchable photo API."""

    name: str

    def search(self, query: str, page: int, per_page: int) -> SearchPage:
        """Return one page of results for ``query``."""

    def download(self, candidate: PhotoCandidate, max_bytes: int) -> bytes:
        """Fetch a candidate's image bytes (and do what the API asks on download)."""


class ApiClient:
    """GETs against one photo API, respecting its rate-limit headers and 429 answers."""

    def __init__(
        self,
        http: httpx.Client,
        name: str,
        *,
        max_wait: float = 60.0,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.name = name
        self.max_wait = max_wait
        self.attempts = attempts
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self._sleep = sleep
        self._clock = clock

    def get_json(self, url: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> Any:
        """GET ``url`` and decode its JSON body; raise PhotoSourceError or RateLimited."""
        response = self._get(url, params, headers)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PhotoSourceError(f"{self.name}: malformed JSON from {url}: {exc}") from exc

    def get_bytes(
        self, url: str, max_bytes: int, headers: Mapping[str, str] | None = None
    ) -> bytes:
        """GET a file of at most ``max_bytes``."""
        # No redirects: the URL was checked, where it might send us was not.
        with self.http.stream(
            "GET", url, headers=dict(headers or {}), follow_redirects=False
        ) as response:
            if response.status_code != 200:
                raise PhotoSourceError(f"{self.name}: {response.status_code} for {url}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise PhotoSourceError(f"{self.name}: {url} is larger than {max_bytes} bytes")
        return bytes(data)

    def _get(
        self, url: str, params: Mapping[str, Any], headers: Mapping[str, str]
    ) -> httpx.Response:
        for attempt in range(self.attempts):
            self._wait_for_allowance()
            response = self.http.get(url, params=dict(params), headers=dict(headers))
            self._note_limits(response)
            if response.status_code == 403 and self.remaining == 0:
                # Unsplash answers a spent allowance with 403 "Rate Limit Exceeded".
                wait = self._retry_after(response, attempt)
                raise RateLimited(f"{self.name}: rate limit spent, resets in {wait:.0f}s", wait)
            if response.status_code == 429:
                wait = self._retry_after(response, attempt)
                if wait > self.max_wait or attempt == self.attempts - 1:
                    raise RateLimited(f"{self.name}: 429, retry after {wait:.0f}s", wait)
                log.warning("%s answered 429; waiting %.1fs", self.name, wait)
                self._sleep(wait)
                continue
            if response.status_code >= 500 and attempt < self.attempts - 1:
                self._sleep(2.0**attempt)
                continue
            if response.status_code != 200:
                raise PhotoSourceError(f"{self.name}: {response.status_code} for {url}")
            return response
        raise PhotoSourceError(f"{self.name}: no answer from {url}")  # pragma: no cover

    def _wait_for_allowance(self) -> None:
        if self.remaining is None or self.remaining > 0:
            return
        wait = None if self.reset_at is None else max(0.0, self.reset_at - self._clock())
        if wait is None or wait > self.max_wait:
            raise RateLimited(f"{self.name}: rate limit spent", wait)
        self._sleep(wait)
        self.remaining = None

    def _note_limits(self, response: httpx.Response) -> None:
        remaining = _number(response.headers.get("X-Ratelimit-Remaining"))
        reset = _number(response.headers.get("X-Ratelimit-Reset"))
        if remaining is not None:
            self.remaining = int(remaining)
        if reset is not None:
            self.reset_at = reset

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        retry_after = _number(response.headers.get("Retry-After"))
        if retry_after is not None:
            return max(0.0, retry_after)
        if self.reset_at is not None:
            return max(0.0, self.reset_at - self._clock())
        return 2.0 ** (attempt + 1)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def field(item: Mapping[str, Any], *path: str) -> Any:
    """Return ``item[path[0]][path[1]]...``; raise PhotoSourceError naming a missing field."""
    value: Any = item
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise PhotoSourceError(f"missing field {'.'.join(path)}")
        value = value[key]
    return value


def same_origin(url: str, base_url: str) -> bool:
    """Tell whether ``url`` has the scheme, host and port of ``base_url``."""
    first, second = urlsplit(url), urlsplit(base_url)
    return (first.scheme, first.netloc) == (second.scheme, second.netloc)


def checked_download_url(url: str, base_url: str, hosts: Collection[str]) -> str:
    """Return ``url`` when it is https on one of ``hosts`` or on the API's own origin.

    Otherwise raise PhotoSourceError: a search response must not send us anywhere else.
    """
    parts = urlsplit(url)
    if same_origin(url, base_url) or (parts.scheme == "https" and parts.hostname in hosts):
        return url
    raise PhotoSourceError(f"refusing to download from {parts.scheme}://{parts.netloc}")
