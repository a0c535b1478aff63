"""A lean HTTP/1.1 client that posts photo uploads on one kept-alive connection.

The server benchmark's clients run on the same CPUs as the server they measure, so what they
spend per request is taken from the server. httpx spends a few milliseconds of CPU per
request there; this client writes a multipart body encoded once and reads the response
by its Content-Length, and spends a fraction of that.
"""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import urlsplit


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
