"""Prometheus metrics of one server: requests, latency, predictions, feedback, model version.

Each app owns its own ``CollectorRegistry`` (no process-global state), exposed at /metrics.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServerMetrics:
    """The collectors the server updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "creature_vis_http_requests",
            "HTTP requests served.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "creature_vis_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "creature_vis_predictions",
            "Predictions served, by top-1 label and model version.",
            ["label", "model_version"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "creature_vis_feedback",
            "Feedback answers received.",
            ["outcome"],
            registry=self.registry,
        )
        self.phase = Histogram(
            "creature_vis_prediction_phase_seconds",
            "Time a prediction request spends per phase: intake, model (queue and run), log.",
            ["phase"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "creature_vis_batch_size",
            "Photos per model call.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "creature_vis_model_queue_depth",
            "Prediction requests waiting for the model.",
            registry=self.registry,
        )
        self.log_backlog = Gauge(
            "creature_vis_prediction_log_backlog",
            "Answered predictions whose photo and row are not written yet.",
            registry=self.registry,
        )
        self.model_info = Gauge(
            "creature_vis_model_info",
            "The model version being served (value 1).",
            ["version"],
            registry=self.registry,
        )
        self._version: str | None = None

    def serving(self, version: str) -> None:
        """Record the version being served."""
        if version != self._version:
            if self._version is not None:
                self.model_info.remove(self._version)
            self.model_info.labels(version=version).set(1)
            self._version = version

    def render(self) -> bytes:
        """Return the Prometheus text exposition."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts requests and their latency per route template (never per raw path)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record its route and status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.latency.labels(route=route).observe(time.perf_counter() - started)
            self.metrics.requests.labels(
                method=scope["method"], route=route, status=str(status)
            ).inc()
