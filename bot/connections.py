"""The bot's HTTP requests to the Bot API: a few connections, and a queue in front of them.

Under load the bot has hundreds of Bot API requests under way (each photo: the "Looking…"
reply, the file lookup, the download, the edit). httpx's connection pool looks through all
its connections for every queued request each time a request starts or ends, so with many
waiting requests its bookkeeping took over half of the bot's CPU (py-spy at 30 photos/s
offered) and the bot answered fewer photos the more arrived. Here requests beyond the
connections wait in an asyncio semaphore, which costs nothing per waiting request, and the
pool only ever sees as many requests as it has connections.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.request import HTTPXRequest


class QueuedRequest(HTTPXRequest):
    """PTB's httpx request, with at most ``connections`` requests in its pool at a time."""

    def __init__(self, connections: int) -> None:
        super().__init__(connection_pool_size=connections)
        self._slots = asyncio.Semaphore(connections)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """Wait for a free connection, then send as PTB does."""
        async with self._slots:
            return await super().do_request(*args, **kwargs)
