"""The exporter's entry points share one function: CLI, Cloud Run job, HTTP handler, and
``python -m monitoring periodic``, which also samples the queues (what ``creature-vis run``
starts).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from core.storage import open_store
from core.warehouse import open_warehouse
from monitoring import cloud_entry
from monitoring.exporter import read_watermark
from testkit.workers_support import (
    SHARED_REDIS,
    claim_redis_db,
    release_redis_db,
    wait_until,
)
from tests.integration.monitoring_support import free_port, seed, victoria_metrics, vm_export

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def vm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with victoria_metrics(tmp_path_factory.mktemp("vm")) as url:
        yield url


@pytest.fixture
def seeded(settings: Settings) -> Settings:
    seed(open_warehouse(settings), NOW)
    return settings


def environment(settings: Settings, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREATURE_VIS_")}
    env |= {
        "CREATURE_VIS_DATA_DIR": str(settings.data_dir),
        "CREATURE_VIS_MONITORING__INFLUX_URL": url,
        "CREATURE_VIS_MONITORING__INFLUX_TOKEN": "entry-token",
    }
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_exports_and_prints_what_it_wrote(seeded: Settings, vm_url: str) -> None:
    done = run(["-m", "cli.main", "export-metrics"], environment(seeded, vm_url))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["points"] > 100
    # VictoriaMetrics has no bucket API: the first run's bootstrap says so and goes on.
    assert result["bootstrap"].startswith("skipped")
    assert dt.datetime.fromisoformat(result["watermark"]) == read_watermark(open_store(seeded))
    assert any(name == "predictions_predictions" for name, _ in vm_export(vm_url))


def test_cli_reexports_an_explicit_window_without_moving_the_watermark(
    seeded: Settings, vm_url: str
) -> None:
    env = environment(seeded, vm_url)
    assert run(["-m", "cli.main", "export-metrics"], env).returncode == 0
    watermark = read_watermark(open_store(seeded))
    since = (NOW - dt.timedelta(hours=6)).isoformat()
    until = (NOW - dt.timedelta(hours=3)).isoformat()
    done = run(["-m", "cli.main", "export-metrics", "--since", since, "--until", until], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["points"] > 0
    assert read_watermark(open_store(seeded)) == watermark


def test_cli_without_influx_says_what_to_set(settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREATURE_VIS_")}
    env["CREATURE_VIS_DATA_DIR"] = str(settings.data_dir)
    done = run(["-m", "cli.main", "export-metrics"], env)
    assert done.returncode == 2
    assert "CREATURE_VIS_MONITORING__INFLUX_URL" in done.stderr


def test_cloud_run_job_exit_codes(seeded: Settings, vm_url: str) -> None:
    dead = environment(seeded, f"http://127.0.0.1:{free_port()}")
    failed = run(["-m", "monitoring", "export"], dead)
    assert failed.returncode == 1
    assert "InfluxDB failed" in failed.stderr
    assert read_watermark(open_store(seeded)) is None
    done = run(["-m", "monitoring", "export"], environment(seeded, vm_url))
    assert done.returncode == 0, done.stderr
    assert read_watermark(open_store(seeded)) is not None


def test_http_handler_answers_json(
    seeded: Settings, vm_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment(seeded, vm_url).items():
        if name.startswith("CREATURE_VIS_"):
            monkeypatch.setenv(name, value)
    body, status, headers = cloud_entry.export_metrics_http(None)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["points"] > 100
    monkeypatch.setenv("CREATURE_VIS_MONITORING__INFLUX_URL", f"http://127.0.0.1:{free_port()}")
    body, status, _ = cloud_entry.export_metrics_http(None)
    assert status == 502
    assert "failed" in json.loads(body)["error"]


def test_periodic_mode_samples_the_queues_every_period_and_stops_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    # No InfluxDB here: each run still samples the queues (no worker runs), and says why it
    # did not export.
    db = claim_redis_db()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREATURE_VIS_")}
    env |= {"CREATURE_VIS_DATA_DIR": str(settings.data_dir), "REDIS_URL": f"{SHARED_REDIS}/{db}"}
    log_path = tmp_path / "monitoring.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitoring", "periodic", "--every", "1"],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: log_path.read_text().count("metrics run:") >= 2, 60, "two runs")
        assert "CREATURE_VIS_MONITORING__INFLUX_URL unset" in log_path.read_text()
        warehouse = open_warehouse(settings)
        depths = warehouse.query("SELECT * FROM metric_points WHERE metric = 'queue_depth'")
        assert {json.loads(str(r["labels_json"]))["queue"] for r in depths} >= {"inference"}
        online = "SELECT * FROM metric_points WHERE metric = 'workers_online' AND value = 0"
        assert warehouse.query(online)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        release_redis_db(db)
    assert code == 0, log_path.read_text()
