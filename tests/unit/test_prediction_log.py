"""The server's prediction log: rounds behind the answers, nothing lost, waiters served."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from core.forget import forget_person
from core.forgotten import ForgetRecord
from core.images import intake
from core.photos import PhotoToStore, image_row, photo_key
from core.storage import LocalStore
from core.warehouse.duckdb_backend import DuckDbWarehouse
from core.warehouse.records import interaction_row
from model_server.prediction_log import LoggedPrediction, PredictionLog, PredictionWriter
from tests.unit.test_photos import jpeg


def entry(n: int, *, holder: str | None = None, sent: float = 0.0) -> LoggedPrediction:
    photo = intake(jpeg(n))
    user = holder or f"api:{n}"
    row = interaction_row(interaction_id=f"i{n}", channel="api", image_id=photo.sha256,
                          model_version="v0", top3=[("dog", 0.9)], user_id=user)  # fmt: skip
    return LoggedPrediction(
        PhotoToStore(photo.data, image_row(photo, source="api", user_id=user)), row, holder, sent
    )


class Rounds:
    """Records each round; the first waits for ``release``; the first ``fail`` rounds raise."""

    def __init__(self, fail: int = 0) -> None:
        self.rounds: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, entries: Sequence[LoggedPrediction]) -> None:
        self.entered.set()
        self.release.wait(timeout=30)
        if self.fail:
            self.fail -= 1
            raise OSError("the warehouse is away")
        self.rounds.append([str(e.interaction["interaction_id"]) for e in entries])


def test_predictions_that_wait_share_the_next_round_and_settle_waits_for_its_own() -> None:
    rounds = Rounds()
    log = PredictionLog(rounds, wait=0.0)
    log.add(entry(1))
    assert rounds.entered.wait(timeout=30)  # round one is under way, held
    log.add(entry(2))
    log.add(entry(3))
    settled = threading.Event()
    waiter = threading.Thread(target=lambda: (log.settle("i3"), settled.set()))
    waiter.start()
    assert not settled.wait(timeout=0.2)  # i3 is not written yet
    rounds.release.set()
    waiter.join(timeout=30)
    assert settled.is_set()
    assert rounds.rounds == [["i1"], ["i2", "i3"]]
    log.settle("i9")  # not queued: nothing to wait for
    log.close()


def test_the_log_is_far_behind_only_past_its_backlog_bound() -> None:
    rounds = Rounds()
    log = PredictionLog(rounds, wait=0.0, max_backlog=2)
    log.add(entry(1))
    assert rounds.entered.wait(timeout=30)  # round one is under way, held
    log.add(entry(2))
    assert log.backlog == 2 and not log.far_behind  # at the bound: answers go on
    log.add(entry(3))
    assert log.far_behind  # past it: answers wait for their writes
    rounds.release.set()
    log.settle("i3")
    assert not log.far_behind
    log.close()
    assert rounds.rounds == [["i1"], ["i2", "i3"]]


def test_a_failed_round_is_written_again_and_close_writes_what_is_left() -> None:
    rounds = Rounds(fail=1)
    rounds.release.set()
    log = PredictionLog(rounds, wait=30.0)  # only a waiter or close cuts the wait short
    log.add(entry(1))
    log.flush()
    assert rounds.rounds == [["i1"]] and log.failures == 1
    log.add(entry(2))
    log.add(entry(3))
    log.close()
    assert rounds.rounds == [["i1"], ["i2", "i3"]] and log.backlog == 0
    assert not log.add(entry(4))  # closed: the caller writes it itself


def test_the_writer_stores_photos_then_rows_and_forgets_again_who_asked_meanwhile(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "store")
    warehouse = DuckDbWarehouse(tmp_path / "w.duckdb")
    warehouse.create_tables()
    writer = PredictionWriter(
        store, warehouse, forget=lambda user: forget_person(store, warehouse, user, [])
    )
    before = time.time()
    kept, forgotten = entry(1, holder="web:kept", sent=before), entry(2, holder="web:gone")
    ForgetRecord(store).mark_person("web:gone")  # after web:gone's photo was sent (sent=0)
    writer([kept, forgotten])
    writer([kept])  # written again (a retried round): nothing doubles
    rows = warehouse.query("SELECT interaction_id, user_id FROM interactions")
    assert rows == [{"interaction_id": "i1", "user_id": "web:kept"}]
    images = warehouse.query("SELECT user_id FROM images")
    assert images == [{"user_id": "web:kept"}]
    assert store.exists(photo_key(intake(jpeg(1))))
    assert not store.exists(photo_key(intake(jpeg(2))))
