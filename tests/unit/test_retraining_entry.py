"""``python -m retraining check``: what the beat task's seam runs, one JSON line on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.settings import Settings
from core.warehouse import open_warehouse


def test_check_prints_the_decision_and_logs_it(settings: Settings) -> None:
    env = {**os.environ, "CREATURE_VIS_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "retraining", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"fired": False, "rule": "no rule fired: no new labels"}
    rows = open_warehouse(settings).query("SELECT kind, fired FROM retrain_events")
    assert rows == [{"kind": "check", "fired": False}]


def test_the_beat_seam_runs_the_check_and_a_forced_check_fires(settings: Settings) -> None:
    from core.retrain_policy import check_retrain

    assert check_retrain(settings) == {"fired": False, "rule": "no rule fired: no new labels"}
    assert check_retrain(settings, force=True) == {"fired": True, "rule": "forced by an admin"}
    rows = open_warehouse(settings).query(
        "SELECT fired, rule FROM retrain_events WHERE kind = 'check' ORDER BY created_at"
    )
    assert rows == [
        {"fired": False, "rule": "no rule fired: no new labels"},
        {"fired": True, "rule": "forced by an admin"},
    ]
