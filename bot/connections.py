"""The bot's HTTP requests to the Bot API: aiohttp, a few connections, a queue in front of them.

Each photo costs the bot four Bot API requests (the "Looking…" reply, the file lookup, the
download, the edit). Through PTB's httpx request they took about half of the bot's CPU at 30
photos/s offered (py-spy): httpx and httpcore check every pooled connection for expiry with a
socket poll, build a timeout object and walk the pool's queue for each request. aiohttp
parses HTTP in C and reuses keep-alive connections without that bookkeeping.

Requests beyond the connections wait in an asyncio semaphore, which costs nothing per
waiting request; the timeouts start once a connection is free, as the wait for one is the
bot's own queue, not the Bot API being slow (a pool timeout would turn a burst of photos
into apologies). PTB's own code turns status codes and error bodies into its exceptions
(BadRequest, Forbidden, RetryAfter…); here transport failures become TimedOut or
NetworkError as in PTB's httpx request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT = 5.0  # seconds, PTB's default for connecting, writing and reading
MEDIA_WRITE_TIMEOUT = 20.0  # seconds to send a request that uploads files (PTB's default)


class AiohttpRequest(BaseRequest):
    """A PTB request on one aiohttp session with at most ``connections`` requests under way."""

    def __init__(
        self,
        connections: int,
        *,
        read_timeout: float | None = DEFAULT_TIMEOUT,
        write_timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_TIMEOUT,
        media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT,
    ) -> None:
        self.connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._media_write_timeout = media_write_timeout
        self._slots = asyncio.Semaphore(connections)
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds a long poll's duration to it)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (inside the running event loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets none
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(  # noqa: PLR0917  (BaseRequest's signature)
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request once a connection is free; return the status and the body."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("this AiohttpRequest is not initialized")
        uploads = request_data is not None and request_data.contains_files
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, uploads=uploads)
        body = _body(request_data)
        async with self._slots:
            try:
                async with session.request(method, url, data=body, timeout=timeout) as response:
                    return response.status, await response.read()
            except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
                raise TimedOut from exc
            except aiohttp.ClientError as exc:
                raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    def _timeout(
        self, read: Any, write: Any, connect: Any, *, uploads: bool
    ) -> aiohttp.ClientTimeout:
        """The call's timeouts: those passed, else this request's defaults.

        aiohttp bounds connecting and each read; sending has no bound of its own there, so
        the whole request gets connect + write + read (when all are finite) as its ceiling.
        """
        if read is BaseRequest.DEFAULT_NONE:
            read = self._read_timeout
        if connect is BaseRequest.DEFAULT_NONE:
            connect = self._connect_timeout
        if write is BaseRequest.DEFAULT_NONE:
            write = self._media_write_timeout if uploads else self._write_timeout
        parts = (read, write, connect)
        total = None if any(part is None for part in parts) else sum(parts)
        return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """The parameters form-encoded, as PTB's httpx request sends them; multipart with files."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        filename, content, mimetype = part
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
