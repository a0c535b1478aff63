"""Keeping the garbage collector's full passes short in long-running processes.

A server imports FastAPI, pydantic, NumPy, Pillow, DuckDB and the model runtime: some
70,000 objects the collector tracks, which live as long as the process. CPython's full
collection walks all of them: in the server under load, 60 ms on average and up to 112 ms
with every Python thread stopped, a few times a minute, a pause every request in flight
waits through. ``settle`` collects once and moves what is alive to the permanent generation
(``gc.freeze``), so later full passes walk only what was made since (under 4 ms measured).
Refcounting still frees frozen objects; only a cycle among them would never be collected,
so it is called once per process, at the end of start-up.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle() -> int:
    """Collect, then exempt every surviving object from later collections; return how many."""
    gc.collect()
    gc.freeze()
    count = gc.get_freeze_count()
    log.debug("froze %d objects made at start-up", count)
    return count
