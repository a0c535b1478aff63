"""DuckDB shared by threads and processes: grouped writes stay exact, a held file is let go."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from core.images import intake
from core.photos import store_photo
from core.settings import Settings
from core.storage import open_store
from core.warehouse import open_warehouse
from core.warehouse.duckdb_backend import DuckDbWarehouse
from core.warehouse.duckdb_turns import KeepOpen, Turn
from core.warehouse.records import interaction_row, record_interaction
from tests.integration.server_support import noisy_photo, wait_for


def test_concurrent_writes_of_the_same_photos_store_each_once(settings: Settings) -> None:
    warehouse = open_warehouse(settings, hold_while_busy=True)
    store = open_store(settings)
    photos = [intake(noisy_photo((200, 40, 40), seed)) for seed in range(3)]

    def one(i: int) -> bool:
        stored = store_photo(store, warehouse, photos[i % 3], source="api")
        record_interaction(
            warehouse,
            interaction_row(
                interaction_id=f"interaction-{i}",
                channel="api",
                image_id=stored.image_id,
                model_version="v0",
                top3=[("dog", 0.9), ("cat", 0.05), ("bird", 0.01)],
            ),
        )
        return stored.created

    try:
        with ThreadPoolExecutor(24) as pool:
            created = list(pool.map(one, range(48)))
    finally:
        warehouse.close()
    plain = open_warehouse(settings)
    assert plain.query("SELECT COUNT(*) AS n FROM images")[0]["n"] == 3
    assert plain.query("SELECT COUNT(*) AS n FROM interactions")[0]["n"] == 48
    assert sum(created) == 3  # each caller learns exactly whether its photo was new


def _row(interaction_id: str) -> dict[str, object]:
    return interaction_row(
        interaction_id=interaction_id,
        channel="api",
        image_id="x",
        model_version="v0",
        top3=[("dog", 1.0)],
    )


def test_grouped_insert_reports_each_callers_new_rows(settings: Settings) -> None:
    open_warehouse(settings)
    warehouse = DuckDbWarehouse(settings.warehouse_path)
    try:
        record_interaction(warehouse, _row("already-there"))

        def write(i: int) -> bool:
            return record_interaction(
                warehouse, _row("already-there" if i == 0 else f"fresh-{i % 4}")
            )

        # Hold the write lock until all eight are queued, so they are flushed as one group.
        writes = warehouse._writes
        with ThreadPoolExecutor(8) as pool:
            with writes.lock:
                futures = [pool.submit(write, i) for i in range(8)]
                wait_for(lambda: writes.waiting() == 8, timeout=30, what="8 queued")
            results = [future.result() for future in futures]
    finally:
        warehouse.close()
    assert results[0] is False
    assert sum(results) == 4  # fresh-0 .. fresh-3, each reported new to one caller only
    assert open_warehouse(settings).query("SELECT COUNT(*) AS n FROM interactions")[0]["n"] == 5


_WRITE_SCRIPT = (
    "import sys\n"
    "from core.warehouse.duckdb_backend import DuckDbWarehouse\n"
    "from pathlib import Path\n"
    "DuckDbWarehouse(Path(sys.argv[1])).execute('DELETE FROM feedback WHERE 1 = 0')\n"
)


def _other_process_can_write(settings: Settings) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", _WRITE_SCRIPT, str(settings.warehouse_path)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return result.returncode == 0


def test_held_database_is_released_for_other_processes(settings: Settings) -> None:
    open_warehouse(settings)
    keep = KeepOpen(Turn.of(settings.warehouse_path), idle=0.2, max_hold=1.0, rest=0.5)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            keep.touch()
            time.sleep(0.01)

    toucher = threading.Thread(target=busy)
    toucher.start()
    try:
        # Even while the server stays busy, another process (a worker) gets its turn.
        assert _other_process_can_write(settings)
    finally:
        stop.set()
        toucher.join()
    wait_for(lambda: _other_process_can_write(settings), timeout=60, what="an idle release")
    keep.close()


def test_a_busy_process_keeps_its_turn_until_another_process_waits_for_one(
    settings: Settings,
) -> None:
    open_warehouse(settings)
    turn = Turn.of(settings.warehouse_path)
    keep = KeepOpen(turn, idle=600.0, max_hold=0.0)
    try:
        keep.touch()
        # Held past max_hold, still in use, nobody else waiting: giving it back buys nothing.
        assert not turn.others_waiting()
        assert not keep.due(time.monotonic())
        connection = turn.open(time.monotonic() + 5)  # hold the turn whatever the loop does
        other = subprocess.Popen(
            [sys.executable, "-c", _WRITE_SCRIPT, str(settings.warehouse_path)]
        )
        try:
            wait_for(turn.others_waiting, timeout=60, what="the other process waiting")
        finally:
            turn.close(connection)
        # The loop sees the waiter and gives the turn back: the other process gets it.
        assert other.wait(timeout=120) == 0
    finally:
        keep.close()


def test_threads_probing_for_waiters_at_once_do_not_take_each_other_for_one(
    settings: Settings,
) -> None:
    open_warehouse(settings)
    turn = Turn.of(settings.warehouse_path)
    seen: list[bool] = []

    def probe() -> None:
        seen.extend(turn.others_waiting() for _ in range(2000))

    threads = [threading.Thread(target=probe) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6000 and not any(seen)
