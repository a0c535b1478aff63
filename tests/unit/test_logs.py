"""Structured logs on GCP, and the alerts and runbooks that depend on what the code logs."""

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import hcl2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cli.main import build_parser
from core.logs import SEVERITIES, TRACE_FIELD, cloud_trace, configure_logging, log_context
from core.settings import Profile
from model_server.tracing import TraceLogMiddleware

REPO = Path(__file__).resolve().parents[2]
MONITORING_TF = REPO / "infra" / "modules" / "monitoring" / "main.tf"
# Cloud Logging's LogSeverity order (LogEntry reference).
ORDER = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT",
         "EMERGENCY"]  # fmt: skip


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_gcp_lines_are_json_with_severity_component_ids_and_trace(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("worker", profile=Profile.GCP, stream=stream)
    log = logging.getLogger("workers.tasks")
    log.info("classified", extra={"interaction_id": "i-1"})
    with log_context(trace=cloud_trace("4bf92f3577b34da6/1;o=1", "demo-project")):
        try:
            raise RuntimeError("warehouse unreachable")
        except RuntimeError:
            log.exception("logging interaction %s failed", "i-2", extra={"interaction_id": "i-2"})
    info, error = (json.loads(line) for line in _lines(stream))
    assert info["severity"] == "INFO"
    assert info["message"] == "classified"
    assert info["component"] == "worker"
    assert info["interaction_id"] == "i-1"
    assert TRACE_FIELD not in info
    assert error["severity"] == "ERROR"
    assert error["message"].startswith("logging interaction i-2 failed\nTraceback")
    assert "RuntimeError: warehouse unreachable" in error["message"]
    assert error["interaction_id"] == "i-2"
    assert error[TRACE_FIELD] == "projects/demo-project/traces/4bf92f3577b34da6"


def test_local_lines_stay_readable_text(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("bot", profile=Profile.LOCAL, stream=stream)
    logging.getLogger("bot.app").warning("webhook not set")
    (line,) = _lines(stream)
    assert line.endswith("WARNING bot.app: webhook not set")


def test_the_profile_comes_from_the_environment(
    restore_root: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREATURE_VIS_PROFILE", "gcp")
    stream = io.StringIO()
    configure_logging("exporter", stream=stream)
    logging.getLogger("monitoring").error("export failed")
    assert json.loads(_lines(stream)[0])["component"] == "exporter"


def test_the_server_tags_a_requests_lines_with_its_trace(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("server", profile=Profile.GCP, stream=stream)

    def page(request: Request) -> PlainTextResponse:
        logging.getLogger("model_server").warning("slow request")
        return PlainTextResponse("ok")

    app = TraceLogMiddleware(Starlette(routes=[Route("/", page)]), project="demo-project")
    with TestClient(app) as client:  # type: ignore[arg-type]
        client.get("/", headers={"X-Cloud-Trace-Context": "abc123/99;o=1"})
        client.get("/")
    traced, untraced = (json.loads(line) for line in _lines(stream))
    assert traced[TRACE_FIELD] == "projects/demo-project/traces/abc123"
    assert TRACE_FIELD not in untraced


def test_every_entry_point_sets_up_logging_through_core() -> None:
    for package in ("bot", "workers", "model_server", "retraining", "monitoring", "cli"):
        for path in (REPO / package).rglob("*.py"):
            assert "logging.basicConfig" not in path.read_text(), f"{path}: use configure_logging"
    for main in ("bot", "workers", "model_server", "retraining", "monitoring"):
        assert "configure_logging(" in (REPO / main / "__main__.py").read_text(), main
    assert "configure_logging(" in (REPO / "cli" / "main.py").read_text()


def _monitoring() -> list[tuple[str, str, dict[str, object]]]:
    with MONITORING_TF.open() as handle:
        loaded = hcl2.load(handle)
    return [(kind.strip('"'), name.strip('"'), body)
            for entry in loaded["resource"] for kind, named in entry.items()
            for name, body in named.items()]  # fmt: skip


def test_log_alert_filters_match_the_severity_the_code_writes(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("server", profile=Profile.GCP, stream=stream)
    logging.getLogger("model_server").error("boom")
    logging.getLogger("model_server").critical("down")
    written = [json.loads(line)["severity"] for line in _lines(stream)]
    assert set(written) <= set(ORDER) and set(SEVERITIES.values()) <= set(ORDER)
    filters = [str(body["filter"]) for kind, _, body in _monitoring()
               if kind == "google_logging_metric"]  # fmt: skip
    assert filters
    for text in filters:
        for op, wanted in re.findall(r"severity\s*(>=|=)\s*\"?([A-Z]+)", text):
            assert wanted in ORDER, f"{wanted} is no Cloud Logging severity"
            matches = [s for s in written if (ORDER.index(s) >= ORDER.index(wanted)
                                              if op == ">=" else s == wanted)]  # fmt: skip
            assert matches == written, f"{text!r} misses what the code logs at error level"


def _runbook_commands() -> list[str]:
    found = []
    for _, _, body in _monitoring():
        for doc in body.get("documentation", []):  # type: ignore[attr-defined]
            found += re.findall(r"`(creature-vis [^`]+)`", str(doc["content"]))
    found += re.findall(r"`(creature-vis [^`]+)`", (REPO / "docs" / "deploy-gcp.md").read_text())
    return found


def test_every_runbook_command_is_one_the_cli_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _runbook_commands()
    assert any(c.startswith("creature-vis models") for c in commands)
    for command in commands:
        try:
            build_parser().parse_args(command.split()[1:])
        except SystemExit as exc:
            assert exc.code == 0, f"`{command}` is refused by the CLI: {capsys.readouterr().err}"
