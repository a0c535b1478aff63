"""Photo uploads for the server benchmark: a lean client and a load driver made of them.

The server benchmark's clients run on the same CPUs as the server they measure, so what they
spend per request is taken from the server. httpx spends a few milliseconds of CPU per
request there; ``UploadClient`` keeps one connection, writes a multipart body encoded once
and reads the response by its Content-Length, and spends a fraction of that.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time
from urllib.parse import urlsplit

import httpx


def multipart_upload(data: bytes, field: str = "image") -> tuple[bytes, str]:
    """Return the multipart/form-data body of one JPEG upload and its content type."""
    boundary = f"upload-{hashlib.sha256(data).hexdigest()[:32]}"
    if boundary.encode() in data:
        raise ValueError("the photo contains the multipart boundary")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return (
        head + data + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


class UploadClient:
    """One connection to ``url``; ``post`` sends a request and returns (status, body)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        """POST ``body``; reconnect when the server closed the connection."""
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._writer.write(head + body)
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, close = 0, False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise ValueError(f"unsupported transfer encoding {value!r}")
            elif name == "connection" and value == "close":
                close = True
        content = await self._reader.readexactly(length)
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        """Close the connection."""
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()
            self._writer = None


async def drive(
    url: str, photos: list[bytes], clients: int, seconds: float, *, lean: bool = True
) -> dict[str, float]:
    """Keep ``clients`` uploads of ``photos`` in flight to /v1/predictions for ``seconds``.

    A warm-up of up to 3 s comes first. Return requests/s, p50 and p99 latency (ms), the
    requests answered and refused, and how many the warm-up answered. ``lean`` clients keep
    one connection each (``UploadClient``); otherwise httpx sends them.
    """
    latencies: list[float] = []
    errors = 0
    counter = 0
    uploads = [multipart_upload(data) for data in photos]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        connections = [UploadClient(url) for _ in range(clients)] if lean else []

        async def send(slot: int) -> int:
            body, content_type = uploads[counter % len(uploads)]
            if lean:
                status, _ = await connections[slot].post("/v1/predictions", body, content_type)
                return status
            headers = {"content-type": content_type}
            return (await client.post("/v1/predictions", content=body, headers=headers)).status_code

        async def one(slot: int) -> None:
            nonlocal counter, errors
            counter += 1
            started = time.perf_counter()
            if await send(slot) != 200:
                errors += 1
                return
            latencies.append(time.perf_counter() - started)

        async def worker(slot: int, stop_at: float) -> None:
            while time.perf_counter() < stop_at:
                await one(slot)

        warm_until = time.perf_counter() + min(3.0, seconds / 3)
        await asyncio.gather(*(worker(slot, warm_until) for slot in range(clients)))
        warm = len(latencies)
        latencies.clear()
        errors = 0
        started = time.perf_counter()
        await asyncio.gather(*(worker(slot, started + seconds) for slot in range(clients)))
        elapsed = time.perf_counter() - started
        for connection in connections:
            await connection.close()
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / elapsed,
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        "n": len(ordered),
        "errors": errors,
        "warm": warm,
    }
