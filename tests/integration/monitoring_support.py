"""Real InfluxDB-protocol servers and a seeded warehouse for the monitoring tests.

* VictoriaMetrics (Debian ``victoria-metrics``) accepts influxdb-client's ``/api/v2/write``:
  the exporter's round trip runs against it.
* InfluxDB 1.x (Debian ``influxdb``) serves ``/write`` and InfluxQL ``/query``, the language
  the Grafana dashboards use (InfluxDB 2.x serves the same InfluxQL through its DBRP mapping).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.metrics.sink import WarehouseSink
from core.warehouse import Warehouse

VICTORIA = "/usr/bin/victoria-metrics"
DATABASE = "creature_vis"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(url: str, data: dict[str, str] | bytes | None = None) -> tuple[int, bytes]:
    """GET, or POST when there is data (a form or raw bytes)."""
    if data is None:
        response = httpx.get(url, timeout=30)
    elif isinstance(data, bytes):
        response = httpx.post(url, content=data, timeout=30)
    else:
        response = httpx.post(url, data=data, timeout=30)
    return response.status_code, response.content


def wait_until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (OSError, httpx.HTTPError):
            result = None
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def victoria_metrics(data: Path) -> Iterator[str]:
    """Run VictoriaMetrics on a free port; yield its base URL."""
    if not Path(VICTORIA).exists():
        pytest.skip("victoria-metrics is not installed (apt-get install victoria-metrics)")
    port = free_port()
    process = subprocess.Popen(
        [VICTORIA, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={data}",
         "-retentionPeriod=100y", "-search.latencyOffset=0s", "-dedup.minScrapeInterval=1ms",
         "-loggerLevel=ERROR"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http(f"{url}/health")[0] == 200, "victoria-metrics")
        yield url
    finally:
        _stop(process)


def vm_export(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]]:
    """Every sample VictoriaMetrics holds: {(name, labels): {timestamp_ms: value}}."""
    http(f"{url}/internal/force_flush")
    status, body = http(f"{url}/api/v1/export", {"match[]": '{__name__!=""}'})
    assert status == 200, body
    series: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]] = {}
    for line in body.decode().splitlines():
        item = json.loads(line)
        labels = dict(item["metric"])
        name = labels.pop("__name__")
        samples = series.setdefault((name, tuple(sorted(labels.items()))), {})
        samples.update(zip(item["timestamps"], item["values"], strict=True))
    return series


@contextmanager
def influxdb(root: Path) -> Iterator[tuple[str, str]]:
    """Run InfluxDB 1.x on free ports; yield (HTTP URL, backup RPC address)."""
    binary = shutil.which("influxd")
    if binary is None:
        pytest.skip("influxd is not installed (apt-get install influxdb)")
    http_port, rpc_port = free_port(), free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "influxdb.conf"
    config.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc_port}"\n'
        f'[meta]\n  dir = "{root}/meta"\n'
        f'[data]\n  dir = "{root}/data"\n  wal-dir = "{root}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{http_port}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
    )
    process = subprocess.Popen(
        [binary, "-config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        wait_until(lambda: http(f"{url}/ping")[0] == 204, "influxd")
        yield url, f"127.0.0.1:{rpc_port}"
    finally:
        _stop(process)


def influxql(url: str, query: str, database: str = DATABASE) -> list[dict[str, Any]]:
    """Run an InfluxQL statement; return its series (raise on an error)."""
    status, raw = http(f"{url}/query", {"db": database, "q": query, "epoch": "ms"})
    result = json.loads(raw)
    assert status == 200, result
    statement = result["results"][0]
    assert "error" not in statement, f"{query}: {statement['error']}"
    return list(statement.get("series", []))


def seed(warehouse: Warehouse, now: dt.datetime) -> dict[str, int]:
    """Fill the warehouse with five hours of activity ending just before ``now``."""

    def at(minutes: float) -> dt.datetime:
        return now - dt.timedelta(minutes=minutes)

    interactions, feedback = [], []
    labels = ["dog", "cat", "bird", "giraffe"]
    for i in range(40):
        version = "v0001" if i < 20 else "v0002"
        truth = labels[i % 4]
        predicted = truth if i % 3 else "other"
        interactions.append({
            "interaction_id": f"i{i:03d}", "created_at": at(300 - i * 7), "user_id": f"u{i % 5}",
            "channel": "telegram" if i % 2 else "web", "image_id": f"img{i:03d}",
            "model_version": version, "predicted_label": predicted,
            "predicted_probability": round(0.5 + i % 5 * 0.1, 2), "latency_ms": 20.0 + i,
        })  # fmt: skip
        if i % 4 != 3:
            feedback.append({
                "feedback_id": f"f{i:03d}", "created_at": at(299 - i * 7),
                "interaction_id": f"i{i:03d}", "user_id": f"u{i % 5}",
                "is_correct": predicted == truth, "label": truth, "predicted_label": predicted,
                "model_version": version, "channel": "telegram",
            })  # fmt: skip
    # A changed mind: the later answer supersedes the earlier one.
    feedback.append({**feedback[0], "feedback_id": "f000b", "created_at": at(250),
                     "is_correct": True, "label": feedback[0]["predicted_label"]})  # fmt: skip
    warehouse.insert("interactions", interactions)
    warehouse.insert("feedback", feedback)
    sources = ["telegram", "web", "unsplash", "pexels", "unsplash"]
    warehouse.insert("images", [
        {"image_id": f"img{i:03d}", "created_at": at(290 - i * 5), "phash": "0" * 16,
         "storage_key": f"photos/{i}", "source": sources[i % 5]}
        for i in range(50)
    ])  # fmt: skip
    events = [("check", False, "only 3 new labels"), ("check", True, "min_new_labels"),
              ("train", None, None), ("promote", None, None), ("check", True, "accuracy_below"),
              ("train", None, None), ("refuse", None, "no significant gain"),
              ("failed", None, "out of memory")]  # fmt: skip
    warehouse.insert("retrain_events", [
        {"event_id": f"e{i}", "created_at": at(200 - i * 20), "kind": kind, "fired": fired,
         "rule": rule, "model_version": "v0002"}
        for i, (kind, fired, rule) in enumerate(events)
    ])  # fmt: skip
    warehouse.insert("model_versions", [
        {"version": "v0001", "status": "promoted", "created_at": at(290), "accuracy": 0.81},
        {"version": "v0002", "status": "created", "created_at": at(165), "accuracy": 0.86,
         "average_accuracy": 0.97, "backward_transfer": -0.004},
        {"version": "v0002", "status": "promoted", "created_at": at(160), "accuracy": 0.86,
         "average_accuracy": 0.97, "backward_transfer": -0.004, "reason": "+0.05, p=0.01"},
        {"version": "v0003", "status": "refused", "created_at": at(60), "accuracy": 0.84,
         "average_accuracy": 0.93, "backward_transfer": -0.031,
         "reason": "backward transfer -0.0310 below -0.0200 (2 versions)"},
    ])  # fmt: skip
    sink = WarehouseSink(warehouse)
    for i in range(12):
        sink.record("queue_depth", i % 4, {"queue": "inference"}, at=at(120 - i * 10))
        sink.record("queue_depth", 1, {"queue": "training"}, at=at(120 - i * 10))
        sink.record("workers_online", 2, at=at(120 - i * 10))
        sink.record("request_errors", i % 2, {"component": "model_server", "error": "rejected"},
                    at=at(120 - i * 10))  # fmt: skip
    sink.flush()
    return {"interactions": len(interactions), "feedback": len(feedback), "images": 50}


def seed_production(settings: Any, threshold: float = 0.7) -> None:
    """Make v0002 the calibrated production version: its seeded predictions have top
    probabilities 0.5 to 0.9 evenly, so CBPE is 0.7 and ATC at ``threshold`` 0.7 is 0.6."""
    import numpy as np

    from core.model.calibration import Calibration
    from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
    from core.model.handle import open_registry
    from core.model.registry import Lineage

    registry = open_registry(settings)
    registry.ensure_taxonomy()
    head = Head(
        np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32), np.zeros(NUM_LABELS, np.float32)
    )
    registry.save_head(head, metrics={"accuracy": 0.86}, version="v0002",
                       lineage=Lineage("v0001", "train-2", code_version="test"))  # fmt: skip
    registry.promote("v0002")
    registry.calibrate("v0002", Calibration(1.0, None, threshold, 0.9, 100, "test-2"))


def line_protocol_writer(url: str, database: str = DATABASE) -> Any:
    """An exporter writer posting the points' line protocol to InfluxDB 1.x ``/write``."""
    from influxdb_client import Point as ClientPoint

    def write(points: Any) -> None:
        lines = "\n".join(
            ClientPoint.from_dict(p.to_dict(), write_precision="ms").to_line_protocol()
            for p in points
        )
        status, body = http(f"{url}/write?db={database}&precision=ms", lines.encode())
        assert status == 204, body

    return write


@contextmanager
def exported_influxdb(root: Path, now: dt.datetime) -> Iterator[tuple[str, str, Any]]:
    """InfluxDB 1.x holding what the exporter wrote for a seeded warehouse.

    Yields (HTTP URL, backup RPC address, the export result).
    """
    from core.settings import load_settings
    from core.warehouse import open_warehouse
    from monitoring.exporter import export_metrics

    settings = load_settings(data_dir=str(root / "var"))
    warehouse = open_warehouse(settings)
    seed(warehouse, now)
    seed_production(settings)
    with influxdb(root / "influxdb") as (url, rpc):
        influxql(url, f"CREATE DATABASE {DATABASE}", database="")
        result = export_metrics(
            settings, warehouse=warehouse, now=now, writer=line_protocol_writer(url)
        )
        yield url, rpc, result
