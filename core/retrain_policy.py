"""The retrain check as the beat task sees it, without importing ``retraining``.

Workers may import only ``core``; the policy itself lives in ``retraining``. The check runs the
retraining entry point (``python -m retraining check``) in a child process with the same
settings, which logs its own retrain_events row, and reads the one JSON line it prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from core.settings import Settings

CHECK_TIMEOUT_SECONDS = 300


def check_retrain(settings: Settings, *, force: bool = False) -> dict[str, Any]:
    """Run the trigger policy once; return ``{"fired": bool, "rule": str}``."""
    env = {**os.environ, "CREATURE_VIS_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "retraining", "check", *(["--force"] if force else [])],
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_SECONDS,
        check=False,
        env=env,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"fired": False, "rule": f"check failed: {done.stderr.strip()[-300:]}"}
    decision: dict[str, Any] = json.loads(lines[-1])
    return decision
