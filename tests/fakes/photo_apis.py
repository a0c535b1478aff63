"""A local stand-in for the Unsplash and Pexels APIs, answering in their documented formats.

Routes (one server, two prefixes, so each client gets its own base URL):

* ``GET /unsplash/search/photos`` (``Authorization: Client-ID <key>``) returns
  ``{"total", "total_pages", "results": [{"id", "urls", "links", "user", ...}]}`` with
  ``X-Ratelimit-Limit``/``X-Ratelimit-Remaining``; a spent allowance answers 403
  ``Rate Limit Exceeded`` as Unsplash does. ``GET /unsplash/photos/<id>/download`` is the
  download-tracking endpoint.
* ``GET /pexels/v1/search`` (``Authorization: <key>``) returns ``{"page", "per_page",
  "photos": [{"id", "url", "photographer", "photographer_url", "src", ...}],
  "total_results", "next_page"}`` with ``X-Ratelimit-Limit/-Remaining/-Reset``.
* ``GET /files/<label>/<name>`` serves real photos from ``animals-dev``.

Tests script faults per source (``fail(source, kind, times)``): ``429`` (with
``Retry-After``), ``malformed`` (not JSON), ``bad-entries`` (entries missing fields), ``500``,
``exhausted`` (remaining 0 with a far reset). Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

OTHER_QUERIES = ("city street", "landscape", "food")
UNSPLASH_SIZES = ("raw", "full", "regular", "small", "thumb")
PEXELS_SIZES = ("original", "large2x", "large", "medium", "small", "portrait", "landscape", "tiny")


@dataclass
class Recorded:
    """One request the fake received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Source:
    """Per-API state: key, allowance, scripted faults."""

    key: str
    limit: int
    remaining: int
    faults: list[str] = field(default_factory=list)
    retry_after: float = 1.0


class FakePhotoApis:
    """The fake server; ``start()`` it, point settings at ``unsplash_url``/``pexels_url``."""

    def __init__(self, photos_root: Path, unsplash_key: str, pexels_key: str) -> None:
        self.photos_root = photos_root
        self.sources = {
            "unsplash": Source(unsplash_key, limit=50, remaining=50),
            "pexels": Source(pexels_key, limit=200, remaining=200),
        }
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self._catalogue: dict[str, list[Path]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        """Root URL of the server."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def unsplash_url(self) -> str:
        """Value for ``settings.photos.unsplash_base_url``."""
        return f"{self.base}/unsplash"

    @property
    def pexels_url(self) -> str:
        """Value for ``settings.photos.pexels_base_url``."""
        return f"{self.base}/pexels/v1"

    def start(self) -> FakePhotoApis:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, source: str, kind: str, times: int = 1) -> None:
        """Make the next ``times`` search requests to ``source`` fail with ``kind``."""
        with self.lock:
            self.sources[source].faults.extend([kind] * times)

    def hits(self, prefix: str) -> list[Recorded]:
        """Recorded requests whose path starts with ``prefix``."""
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def photos_for(self, query: str) -> list[Path]:
        """The photos a query finds: the label's animals-dev folder (no 32x32 CIFAR ones)."""
        label = "other" if query in OTHER_QUERIES else query.split(maxsplit=1)[0]
        if label not in self._catalogue:
            folder = self.photos_root / label
            self._catalogue[label] = sorted(
                p for p in folder.glob("*.jpg") if not p.name.startswith("cifar_")
            )
        return self._catalogue[label]

    # --- responses -------------------------------------------------------------------

    def search(
        self, name: str, query: dict[str, str], auth: str
    ) -> tuple[int, dict[str, str], bytes]:
        source = self.sources[name]
        expected = f"Client-ID {source.key}" if name == "unsplash" else source.key
        if auth != expected:
            return 401, {}, json.dumps({"errors": ["OAuth error: invalid token"]}).encode()
        with self.lock:
            fault = source.faults.pop(0) if source.faults else None
            if fault == "exhausted":
                source.remaining = 0
            if source.remaining <= 0:
                status = 403 if name == "unsplash" else 429
                return status, self._limits(source, reset_in=3600), b"Rate Limit Exceeded"
            source.remaining -= 1
        headers = self._limits(source, reset_in=3600)
        if fault == "429":
            return 429, {**headers, "Retry-After": str(source.retry_after)}, b"Too Many Requests"
        if fault == "500":
            return 500, headers, b"Internal Server Error"
        if fault == "malformed":
            return 200, headers, b'{"results": [ {"id": "trunc'
        page, per_page = int(query.get("page", "1")), int(query.get("per_page", "10"))
        found = self.photos_for(query.get("query", ""))
        chunk = found[(page - 1) * per_page : page * per_page]
        body = (self._unsplash if name == "unsplash" else self._pexels)(
            chunk, found, page, per_page, query.get("query", "")
        )
        if fault == "bad-entries":
            key = "results" if name == "unsplash" else "photos"
            body[key] = [{"id": "broken"}, *body[key]]
        return 200, headers, json.dumps(body).encode()

    def _file_url(self, path: Path) -> str:
        return f"{self.base}/files/{path.parent.name}/{path.name}"

    def _limits(self, source: Source, reset_in: float) -> dict[str, str]:
        return {
            "X-Ratelimit-Limit": str(source.limit),
            "X-Ratelimit-Remaining": str(max(source.remaining, 0)),
            "X-Ratelimit-Reset": str(int(time.time() + reset_in)),
        }

    def _unsplash(
        self, chunk: list[Path], found: list[Path], page: int, per_page: int, query: str
    ) -> dict[str, Any]:
        results = []
        for path in chunk:
            photo_id = f"u-{path.parent.name}-{path.stem[-8:]}"
            results.append({
                "id": photo_id,
                "width": 640,
                "height": 480,
                "description": None,
                "alt_description": f"a {path.parent.name}",
                "urls": dict.fromkeys(UNSPLASH_SIZES, self._file_url(path)),
                "links": {
                    "self": f"{self.unsplash_url}/photos/{photo_id}",
                    "html": f"https://unsplash.com/photos/{photo_id}",
                    "download": f"https://unsplash.com/photos/{photo_id}/download",
                    "download_location": f"{self.unsplash_url}/photos/{photo_id}/download",
                },
                "user": {
                    "id": "user-1",
                    "username": "jane",
                    "name": "Jane Doe",
                    "links": {"html": "https://unsplash.com/@jane"},
                },
            })  # fmt: skip
        total_pages = -(-len(found) // per_page)
        return {"total": len(found), "total_pages": total_pages, "results": results}

    def _pexels(
        self, chunk: list[Path], found: list[Path], page: int, per_page: int, query: str
    ) -> dict[str, Any]:
        photos = []
        for index, path in enumerate(chunk):
            photo_id = 1000 * page + index
            file_url = self._file_url(path)
            photos.append({
                "id": photo_id,
                "width": 640,
                "height": 480,
                "url": f"https://www.pexels.com/photo/{photo_id}/",
                "photographer": "Max Mustermann",
                "photographer_url": "https://www.pexels.com/@max",
                "photographer_id": 42,
                "avg_color": "#978E82",
                "src": dict.fromkeys(PEXELS_SIZES, file_url),
                "liked": False,
                "alt": f"a {path.parent.name}",
            })  # fmt: skip
        body: dict[str, Any] = {
            "page": page,
            "per_page": per_page,
            "photos": photos,
            "total_results": len(found),
        }
        if page * per_page < len(found):
            body["next_page"] = f"{self.pexels_url}/search/?page={page + 1}&per_page={per_page}"
        return body


def _handler(fake: FakePhotoApis) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with fake.lock:
                fake.requests.append(Recorded(parts.path, query, dict(self.headers.items())))
            auth = self.headers.get("Authorization", "")
            if parts.path == "/unsplash/search/photos":
                self._send(*fake.search("unsplash", query, auth), "application/json")
            elif parts.path == "/pexels/v1/search":
                self._send(*fake.search("pexels", query, auth), "application/json")
            elif parts.path.startswith("/unsplash/photos/") and parts.path.endswith("/download"):
                body = json.dumps({"url": "https://images.unsplash.com/photo"}).encode()
                self._send(200, {}, body, "application/json")
            elif parts.path.startswith("/files/"):
                self._file(parts.path.removeprefix("/files/"))
            else:
                self._send(404, {}, b"not found", "text/plain")

        def _file(self, relative: str) -> None:
            path = (fake.photos_root / relative).resolve()
            if fake.photos_root.resolve() not in path.parents or not path.is_file():
                self._send(404, {}, b"not found", "text/plain")
                return
            self._send(200, {}, path.read_bytes(), "image/jpeg")

        def _send(self, status: int, headers: dict[str, str], body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
