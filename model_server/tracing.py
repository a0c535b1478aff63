"""Tie each request's log lines to its Cloud Trace trace (the X-Cloud-Trace-Context header)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from core.logs import cloud_trace, log_context

_HEADER = b"x-cloud-trace-context"


class TraceLogMiddleware:
    """Log lines written while a request is handled carry its trace (Cloud Run sets it)."""

    def __init__(self, app: ASGIApp, project: str | None) -> None:
        self.app = app
        self.project = project

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on inside a log context holding its trace, when it has one."""
        header = None
        if scope["type"] == "http":
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == _HEADER), None)
        trace = cloud_trace(header, self.project)
        if trace is None:
            await self.app(scope, receive, send)
            return
        with log_context(trace=trace):
            await self.app(scope, receive, send)
