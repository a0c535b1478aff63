"""The exporter's InfluxDB 2.x bootstrap (bucket retention, InfluxQL mapping).

No InfluxDB 2.x runs here, so a small HTTP server plays its API and the test asserts the
exact requests influxdb-client sends.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from core.errors import ConfigurationError
from core.settings import Settings
from core.warehouse import open_warehouse
from monitoring import influx
from monitoring.exporter import export_metrics
from tests.integration.monitoring_support import seed

Request = tuple[str, str, Any]
ORG, BUCKET, OLD_BUCKET = "0a1b2c3d4e5f6a7b", "b01b2c3d4e5f6a7b", "b07b2c3d4e5f6a7b"
MAPPING = {"id": "d1", "orgID": ORG, "bucketID": OLD_BUCKET, "database": "cv",
           "retention_policy": "autogen", "default": True, "virtual": False}  # fmt: skip


class FakeInflux2:
    """Answers the few API calls of the bootstrap from in-memory state."""

    def __init__(self, buckets: list[dict[str, Any]], dbrps: list[dict[str, Any]]) -> None:
        self.buckets, self.dbrps = buckets, dbrps
        self.requests: list[Request] = []
        self.tokens: set[str] = set()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        route = (method, re.sub(r"/[0-9a-f]{16}$", "", path.split("?", maxsplit=1)[0]))
        answers = {
            ("GET", "/api/v2/orgs"): lambda: (
                200,
                {"orgs": [{"id": ORG, "name": "creature-vis"}]},
            ),
            ("GET", "/api/v2/buckets"): lambda: (200, {"buckets": self.buckets}),
            ("POST", "/api/v2/buckets"): lambda: (201, {"id": BUCKET, **body}),
            ("PATCH", "/api/v2/buckets"): lambda: (200, {**self.buckets[0], **body}),
            ("GET", "/api/v2/dbrps"): lambda: (200, {"content": self.dbrps}),
            ("POST", "/api/v2/dbrps"): lambda: (201, {"id": "d01", **body}),
            ("POST", "/api/v2/write"): lambda: (204, None),
        }
        if route not in answers:
            return 404, {"code": "not found", "message": path}
        return answers[route]()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(fake: FakeInflux2) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                is_json = "json" in self.headers.get("Content-Type", "")
                body = json.loads(raw) if raw and is_json else raw.decode() or None
                fake.tokens.add(self.headers.get("Authorization", ""))
                status, answer = fake.answer(self.command, self.path, body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _reply  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def configured(settings: Settings, url: str) -> Settings:
    monitoring = settings.monitoring.model_copy(
        update={"influx_url": url, "influx_token": SecretStr("op-token"), "influx_bucket": "cv"}
    )
    return settings.model_copy(update={"monitoring": monitoring})


def run(settings: Settings) -> influx.BootstrapResult:
    client = influx.open_client(settings)
    try:
        return influx.bootstrap(client, settings)
    finally:
        client.close()


def test_a_new_server_gets_the_bucket_with_retention_and_the_influxql_mapping(
    settings: Settings, serve: Any
) -> None:
    fake = FakeInflux2(buckets=[], dbrps=[])
    result = run(configured(settings, serve(fake)))
    retention = 400 * 86_400
    assert fake.requests == [
        ("GET", "/api/v2/orgs?org=creature-vis", None),
        ("GET", "/api/v2/buckets?name=cv", None),
        ("POST", "/api/v2/buckets", {
            "name": "cv", "orgID": ORG, "rp": "0",
            "retentionRules": [{"type": "expire", "everySeconds": retention}],
        }),
        ("GET", f"/api/v2/dbrps?orgID={ORG}&bucketID={BUCKET}", None),
        ("POST", "/api/v2/dbrps", {
            "orgID": ORG, "bucketID": BUCKET, "database": "cv",
            "retention_policy": "autogen", "default": True,
        }),
    ]  # fmt: skip
    assert fake.tokens == {"Token op-token"}
    assert result == influx.BootstrapResult(BUCKET, retention, True, False, True)


def test_an_existing_bucket_gets_its_retention_corrected_once(
    settings: Settings, serve: Any
) -> None:
    bucket = {"id": OLD_BUCKET, "name": "cv", "orgID": ORG,
              "retentionRules": [{"type": "expire", "everySeconds": 3600}]}  # fmt: skip
    fake = FakeInflux2(buckets=[bucket], dbrps=[MAPPING])
    result = run(configured(settings, serve(fake)))
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    assert [(method, path) for method, path, _ in patches] == [
        ("PATCH", f"/api/v2/buckets/{OLD_BUCKET}")
    ]
    assert patches[0][2]["retentionRules"] == [{"type": "expire", "everySeconds": 400 * 86_400}]
    assert not [r for r in fake.requests if r[:2] == ("POST", "/api/v2/dbrps")]
    assert (result.created_bucket, result.changed_retention, result.created_mapping) == (
        False, True, False,
    )  # fmt: skip


def test_without_an_url_the_bootstrap_says_which_variable_to_set(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="CREATURE_VIS_MONITORING__INFLUX_URL"):
        influx.open_client(settings)


def test_the_first_export_bootstraps_then_writes_and_later_ones_only_write(
    settings: Settings, serve: Any
) -> None:
    fake = FakeInflux2(buckets=[], dbrps=[])
    settings = configured(settings, serve(fake))
    warehouse = open_warehouse(settings)
    now = dt.datetime.now(dt.UTC)
    seed(warehouse, now)
    first = export_metrics(settings, warehouse=warehouse, now=now)
    assert first.bootstrap is not None and first.bootstrap.startswith(f"bucket {BUCKET}")
    writes = [r for r in fake.requests if r[1].startswith("/api/v2/write")]
    assert [path for _, path, _ in writes] == [
        "/api/v2/write?org=creature-vis&bucket=cv&precision=ms"
    ]
    lines = writes[0][2].splitlines()
    assert len(lines) == first.points
    assert any(
        line.startswith("predictions,channel=telegram,model_version=v0001 ") for line in lines
    )
    fake.requests.clear()
    second = export_metrics(settings, warehouse=warehouse, now=now + dt.timedelta(hours=1))
    assert second.bootstrap is None
    assert [r[1].split("?")[0] for r in fake.requests] == ["/api/v2/write"]
