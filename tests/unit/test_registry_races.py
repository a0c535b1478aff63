"""Two rounds at once: conditional writes keep versions immutable and no move lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.errors import ProductionMoved
from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from core.model.registry import Lineage, ModelRegistry, VersionExists
from core.settings import Settings
from core.storage import LocalStore

LINEAGE = Lineage(parent_version="v0", dataset_version=None, code_version="test")


def head(bias: float) -> Head:
    return Head(np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32),
                np.full(NUM_LABELS, bias, np.float32))  # fmt: skip


def at_once(*calls: Callable[[], object]) -> list[object]:
    """Run the calls on threads released together; return results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    registry = ModelRegistry(LocalStore(tmp_path / "store"), "test-backbone")
    registry.ensure_taxonomy()
    return registry


def test_two_rounds_saving_at_once_get_two_versions(registry: ModelRegistry) -> None:
    for _ in range(10):
        first, second = at_once(
            lambda: registry.save_head(head(1.0), metrics={}, lineage=LINEAGE),
            lambda: registry.save_head(head(2.0), metrics={}, lineage=LINEAGE),
        )
        assert isinstance(first, str) and isinstance(second, str) and first != second
        registry.get(first), registry.get(second)  # both complete and verified


def test_one_name_written_twice_at_once_keeps_the_first_intact(registry: ModelRegistry) -> None:
    results = at_once(
        lambda: registry.save_head(head(1.0), metrics={}, lineage=LINEAGE, version="v9"),
        lambda: registry.save_head(head(2.0), metrics={}, lineage=LINEAGE, version="v9"),
    )
    assert sorted(type(r).__name__ for r in results) == ["VersionExists", "str"]
    saved = registry.get("v9").head
    assert saved is not None and float(saved.bias[0]) in (1.0, 2.0)
    with pytest.raises(VersionExists):
        registry.save_head(head(3.0), metrics={}, lineage=LINEAGE, version="v9")


def test_promotions_at_once_lose_no_history(registry: ModelRegistry) -> None:
    versions = [registry.save_head(head(float(n)), metrics={}, lineage=LINEAGE) for n in range(6)]
    at_once(*(lambda v=v: registry.promote(v) for v in versions))
    pointer = registry._production.read()
    assert pointer is not None
    seen = [pointer["version"], *pointer["previous"]]
    assert sorted(seen) == sorted([*versions, "v0"])  # every move is in the history once


def test_a_challenger_of_a_champion_no_longer_serving_is_not_promoted(
    registry: ModelRegistry,
) -> None:
    mine = registry.save_head(head(1.0), metrics={}, lineage=LINEAGE)
    theirs = registry.save_head(head(2.0), metrics={}, lineage=LINEAGE)
    results = at_once(
        lambda: registry.promote(mine, replacing="v0"),
        lambda: registry.promote(theirs, replacing="v0"),
    )
    assert sorted(type(r).__name__ for r in results) == ["NoneType", "ProductionMoved"]
    assert registry.production() in (mine, theirs)
    with pytest.raises(ProductionMoved):
        registry.promote(mine if registry.production() == theirs else theirs, replacing="v0")


def test_one_lease_holder_at_a_time_and_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    from retraining.lease import Lease, LeaseHeld

    store = LocalStore(tmp_path / "store")
    first, second = Lease(store, "locks/x", 60), Lease(store, "locks/x", 60)
    results = at_once(first.acquire, second.acquire)
    assert sorted(type(r).__name__ for r in results) == ["LeaseHeld", "NoneType"]
    winner, loser = (first, second) if results[0] is None else (second, first)
    loser.release()  # not theirs: nothing happens
    with pytest.raises(LeaseHeld):
        loser.acquire()
    winner.release()
    loser.acquire()
    stale = Lease(store, "locks/y", -1)  # a holder that died: its lease ran out at once
    stale.acquire()
    fresh = Lease(store, "locks/y", 60)
    fresh.acquire()  # taken over
    with pytest.raises(LeaseHeld):
        Lease(store, "locks/y", 60).acquire()


def test_a_retrain_while_another_round_runs_says_it_is_busy(settings: Settings) -> None:
    from retraining.lease import Lease
    from retraining.loop import ROUND_LEASE_KEY, retrain
    from retraining.resources import open_resources

    res = open_resources(settings)
    with Lease(res.store, ROUND_LEASE_KEY, 60).held():
        outcome = retrain(res, settings, force=True)
    assert (outcome.status, outcome.fired) == ("busy", True)
    assert "another retrain is running" in outcome.reason
    assert retrain(res, settings, force=True).status == "nothing new"  # free again
