"""Settling the heap: start-up objects leave the collector's walks, later garbage does not."""

from __future__ import annotations

import gc
import weakref

from core import heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_settle_freezes_what_lives_and_later_cycles_are_still_collected() -> None:
    kept = [_Node() for _ in range(100)]
    try:
        frozen = heap.settle()
        assert frozen == gc.get_freeze_count() >= len(kept)
        made_later = _cycle()
        gc.collect()
        assert made_later() is None  # new garbage is collected as before
    finally:
        gc.unfreeze()  # the test process goes on making and dropping objects
