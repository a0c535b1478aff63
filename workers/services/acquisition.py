"""Pull labelled candidate photos from Unsplash and Pexels into the photo library.

Each label has search queries; each found photo is downloaded, validated by intake, checked
against what we hold (exact and near duplicates) and stored with its source, licence,
attribution and the query's label as a weak label, for curation to score later.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, Field, field_validator

from core.errors import ImageRejected
from core.images import intake
from core.labels import VALID_LABELS
from core.photos import store_photo
from core.progress import QUIET, Progress
from core.settings import ImageSettings, Settings
from core.storage import ImageStore
from core.warehouse import Warehouse
from workers.clients.pexels import PexelsSource
from workers.clients.photo_api import (
    ApiClient,
    PhotoCandidate,
    PhotoSource,
    PhotoSourceError,
    RateLimited,
)
from workers.clients.unsplash import UnsplashSource

log = logging.getLogger(__name__)
# Queries chosen to find the animal itself (not toys, logos or sports teams).
LABEL_QUERIES: dict[str, tuple[str, ...]] = {
    "dog": ("dog",),
    "cat": ("cat",),
    "horse": ("horse",),
    "elephant": ("elephant wildlife",),
    "giraffe": ("giraffe",),
    "lion": ("lion wildlife",),
    "tiger": ("tiger wildlife",),
    "bear": ("bear wildlife",),
    "zebra": ("zebra",),
    "monkey": ("monkey",),
    "bird": ("bird",),
    "fish": ("fish underwater",),
    "rabbit": ("rabbit",),
    "deer": ("deer",),
    "snake": ("snake reptile",),
    "other": ("city street", "landscape", "food"),
}
MAX_PAGES = 5
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class AcquireRequest(BaseModel):
    """Which labels to pull (all by default) and how many new photos each."""

    labels: list[str] | None = None
    per_label: int | None = Field(None, ge=0, le=500)

    @field_validator("labels")
    @classmethod
    def _known(cls, labels: list[str] | None) -> list[str] | None:
        unknown = [label for label in labels or [] if label not in VALID_LABELS]
        if unknown:
            raise ValueError(f"unknown labels {unknown}")
        return labels


@dataclass
class LabelCount:
    """What one label's pull did."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


@dataclass
class AcquisitionReport:
    """Counts per label and the state of each source at the end of the run."""

    labels: dict[str, LabelCount] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def stored(self) -> int:
        """New photos stored in this run."""
        return sum(count.stored for count in self.labels.values())

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "stored": self.stored,
            "labels": {label: vars(count) for label, count in self.labels.items()},
            "sources": dict(self.sources),
        }


@dataclass
class Library:
    """Where acquired photos go, and the limits they must pass."""

    store: ImageStore
    warehouse: Warehouse
    images: ImageSettings


def acquire_photos(
    library: Library,
    sources: list[PhotoSource],
    labels: list[str],
    per_label: int,
    progress: Progress = QUIET,
) -> AcquisitionReport:
    """Pull up to ``per_label`` new photos per label, sharing the quota among the sources."""
    report = AcquisitionReport(sources={source.name: "ok" for source in sources})
    with progress.bar(len(labels), "labels", "labels") as step:
        for label in labels:
            _acquire_label(library, sources, label, per_label, report)
            count = report.labels[label]
            progress.phase(label, f"{count.stored} stored, {report.stored} in all")
            step(1)
    return report


def _acquire_label(
    library: Library,
    sources: list[PhotoSource],
    label: str,
    per_label: int,
    report: AcquisitionReport,
) -> None:
    """One label's photos, its quota shared among the sources still answering."""
    count = report.labels.setdefault(label, LabelCount())
    usable = [s for s in sources if report.sources[s.name] == "ok"]
    for position, source in enumerate(usable):
        quota = math.ceil((per_label - count.stored) / (len(usable) - position))
        if quota <= 0:
            break
        try:
            _pull(library, source, label, quota, count)
        except RateLimited as exc:
            report.sources[source.name] = f"rate limited: {exc}"
            log.warning("%s", exc)
        except PhotoSourceError as exc:
            log.error("%s failed for %s: %s", source.name, label, exc)
            report.sources[source.name] = f"error: {exc}"


def _pull(library: Library, source: PhotoSource, label: str, quota: int, count: LabelCount) -> None:
    goal = count.stored + quota
    for query in LABEL_QUERIES[label]:
        for page in range(1, MAX_PAGES + 1):
            results = source.search(query, page, per_page=max(quota * 2, 10))
            for candidate in results.candidates:
                if count.stored >= goal:
                    return
                _take(library, source, candidate, label, count)
            if not results.has_more or not results.candidates:
                break


def _take(
    library: Library,
    source: PhotoSource,
    candidate: PhotoCandidate,
    label: str,
    count: LabelCount,
) -> None:
    if _held(library.warehouse, candidate):
        count.duplicates += 1
        return
    try:
        data = source.download(candidate, library.images.max_bytes)
        photo = intake(
            data, max_bytes=library.images.max_bytes, max_pixels=library.images.max_pixels
        )
    except (ImageRejected, PhotoSourceError, httpx.TransportError) as exc:
        if isinstance(exc, RateLimited):
            raise
        log.warning("skipping %s photo %s: %s", source.name, candidate.source_id, exc)
        count.rejected += 1
        return
    stored = store_photo(
        library.store,
        library.warehouse,
        photo,
        source=candidate.source,
        near_duplicate_bits=library.images.near_duplicate_bits,
        source_id=candidate.source_id,
        source_url=candidate.page_url,
        license=candidate.license,
        attribution=candidate.attribution,
        weak_label=label,
    )
    if stored.created:
        count.stored += 1
    else:
        count.duplicates += 1


def _held(warehouse: Warehouse, candidate: PhotoCandidate) -> bool:
    rows = warehouse.query(
        "SELECT image_id FROM images WHERE source = @source AND source_id = @id LIMIT 1",
        {"source": candidate.source, "id": candidate.source_id},
    )
    return bool(rows)


def open_sources(settings: Settings, http: httpx.Client) -> tuple[list[PhotoSource], list[str]]:
    """Return the photo APIs that have keys, and notes on those that do not."""
    photos = settings.photos
    sources: list[PhotoSource] = []
    notes: list[str] = []
    if photos.unsplash_access_key is not None:
        client = ApiClient(http, "unsplash")
        key = photos.unsplash_access_key.get_secret_value()
        sources.append(UnsplashSource(client, photos.unsplash_base_url, key, photos.download_hosts))
    else:
        notes.append("unsplash: skipped, no access key (CREATURE_VIS_PHOTOS__UNSPLASH_ACCESS_KEY)")
    if photos.pexels_api_key is not None:
        client = ApiClient(http, "pexels")
        key = photos.pexels_api_key.get_secret_value()
        sources.append(PexelsSource(client, photos.pexels_base_url, key, photos.download_hosts))
    else:
        notes.append("pexels: skipped, no API key (CREATURE_VIS_PHOTOS__PEXELS_API_KEY)")
    return sources, notes


def acquire_from_settings(
    settings: Settings, library: Library, request: AcquireRequest, progress: Progress | None = None
) -> AcquisitionReport:
    """Run one acquisition into ``library`` with the configured sources and quotas."""
    labels = request.labels or list(VALID_LABELS)
    per_label = settings.photos.per_label if request.per_label is None else request.per_label
    with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=True) as http:
        sources, notes = open_sources(settings, http)
        progress = progress or Progress("acquisition")
        report = acquire_photos(library, sources, labels, per_label, progress)
    for note in notes:
        name, _, reason = note.partition(": ")
        report.sources[name] = reason
    log.info("acquisition stored %d photos: %s", report.stored, report.sources)
    return report
