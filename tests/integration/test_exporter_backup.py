"""The backup and restore commands of docs/monitoring.md, tried once on a local server.

The operator's server is InfluxDB 2.x (``influx backup`` / ``influx restore``), which cannot
run here; Debian's InfluxDB 1.x has the equivalent ``influxd backup -portable`` and
``influxd restore -portable``, tried here end to end: export, back up, restore onto a fresh
server, and the dashboards' figures come back the same.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.monitoring_support import (
    DATABASE,
    exported_influxdb,
    influxdb,
    influxql,
)
from tests.integration.server_support import wait_for

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FIGURES = [
    'SELECT sum("predictions") FROM "predictions"',
    'SELECT sum("answered"), sum("incorrect") FROM "feedback"',
    'SELECT sum("images") FROM "images" GROUP BY "source"',
    'SELECT last("accuracy_rolling"), last("points") FROM "export"',
    'SELECT count("version") FROM "model_versions"',
]


def influxd(*args: str) -> None:
    binary = shutil.which("influxd")
    assert binary is not None
    done = subprocess.run([binary, *args], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def figures(url: str) -> list[object]:
    return [influxql(url, query) for query in FIGURES]


def restored(url: str, expected: list[object]) -> bool:
    try:
        return figures(url) == expected
    except AssertionError:  # "database not found" until the restore is visible
        return False


def test_backup_restores_onto_a_fresh_server(tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    with exported_influxdb(tmp_path / "live", NOW) as (url, rpc, _):
        before = figures(url)
        influxd("backup", "-portable", "-database", DATABASE, "-host", rpc, str(backup))
    assert before[0], "the exported data should not be empty"
    assert any(backup.iterdir())
    with influxdb(tmp_path / "fresh") as (url, rpc):
        with pytest.raises(AssertionError, match="database not found"):
            influxql(url, FIGURES[0])
        influxd("restore", "-portable", "-db", DATABASE, "-host", rpc, str(backup))
        # The restored shards become readable a moment after the command returns.
        wait_for(lambda: restored(url, before), timeout=60, what="the restored figures")
