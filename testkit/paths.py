"""Where the repository and its shared model cache are, for harnesses started from anywhere."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Weights and converted runtimes, shared by every test and benchmark data directory.
SHARED_CACHE = REPO / "var" / "cache"
