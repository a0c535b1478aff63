"""Log set-up shared by every entry point: JSON lines on GCP, readable text locally.

Cloud Run reads one JSON object per line on stdout/stderr as a structured entry: ``severity``
becomes the entry's severity (so log-based metrics and alerts on ``severity>=ERROR`` see
it), ``message`` its text, and ``logging.googleapis.com/trace`` ties it to the request's
trace. Plain text would arrive with no severity at all.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from core.settings import Profile, profile_from_environment

# The ids worth seeing beside a line; pass them with ``extra={...}`` or ``log_context``.
CONTEXT_FIELDS = ("interaction_id", "image_id", "task_id", "model_version", "dataset_version")
TRACE_FIELD = "logging.googleapis.com/trace"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_INSTALLED = "_creature_vis_handler"  # marks the handler configure_logging put on the root

# Python level name -> Cloud Logging LogSeverity (cloud.google.com/logging/docs/reference/v2/
# rest/v2/LogEntry#logseverity); WARNING and the rest are spelled the same.
SEVERITIES = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR",
              "CRITICAL": "CRITICAL"}  # fmt: skip

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "creature_vis_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ids (interaction_id, a trace) to every line logged inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def cloud_trace(header: str | None, project: str | None) -> str | None:
    """The trace name of an ``X-Cloud-Trace-Context: TRACE/SPAN;o=1`` header, if any."""
    if not header or not project:
        return None
    trace = header.split("/", 1)[0].strip()
    return f"projects/{project}/traces/{trace}" if trace else None


class JsonFormatter(logging.Formatter):
    """One JSON object per record in the shape Cloud Logging reads from Cloud Run."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record; a traceback goes into ``message`` (Error Reporting reads it)."""
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        entry: dict[str, Any] = {
            "severity": SEVERITIES.get(record.levelname, "DEFAULT"),
            "message": message,
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "component": self.component,
            "logger": record.name,
        }
        context = _context.get()
        for name in (*CONTEXT_FIELDS, "trace"):
            value = getattr(record, name, None) or context.get(name)
            if value:
                entry[TRACE_FIELD if name == "trace" else name] = str(value)
        return json.dumps(entry, default=str)


def configure_logging(
    component: str,
    *,
    level: int | str = logging.INFO,
    profile: Profile | None = None,
    stream: Any = None,
) -> None:
    """Set up the root logger for a process: JSON on the gcp profile, text otherwise.

    Calling it again replaces the handler it installed before. A root logger that its host
    already set up (a test runner capturing logs, an application embedding the CLI) keeps
    that set-up and only gets the level, unless a ``stream`` is asked for explicitly.
    """
    root = logging.getLogger()
    for installed in [h for h in root.handlers if getattr(h, _INSTALLED, False)]:
        root.removeHandler(installed)
    root.setLevel(level)
    if stream is not None or not root.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        if (profile or profile_from_environment()) is Profile.GCP:
            handler.setFormatter(JsonFormatter(component))
        else:
            handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        setattr(handler, _INSTALLED, True)
        root.addHandler(handler)
    # sqlglot narrates every BigQuery-to-DuckDB rewrite at INFO; httpx's lines carry the
    # bot token in their URLs.
    logging.getLogger("sqlglot").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
