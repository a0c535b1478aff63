"""Several processes, each with several threads, share one DuckDB file and lose no row.

As under ``make run`` (worker flusher and tasks, bot, server, training worker): every
process opens and closes the file from two threads as fast as it can, inserting rows and
reading each batch back. Afterwards a fresh process must find every row whose insert
returned. Without turns at the file, DuckDB loses committed rows when one process opens the
file during another's checkpoint.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from core.warehouse.duckdb_backend import DuckDbWarehouse
from core.warehouse.records import interaction_row, record_interaction
from tests.conftest import REPO

pytestmark = [pytest.mark.timeout(240)]
PROCESSES, THREADS, SECONDS = 3, 2, 20.0
WRITER = """
import json, random, sys, threading, time, uuid
from pathlib import Path
from core.warehouse.duckdb_backend import DuckDbWarehouse
from core.warehouse.records import record_interaction
from core.warehouse.records import get_interaction
from core.warehouse.records import interaction_row

warehouse = DuckDbWarehouse(Path(sys.argv[1]))
until = time.monotonic() + float(sys.argv[2])
written, errors, lock = [], [], threading.Lock()


def row():
    return interaction_row(interaction_id=uuid.uuid4().hex, channel="telegram", image_id="i",
                           model_version="v0", top3=[("cat", 0.9), ("dog", 0.1)],
                           user_id="u", chat_id="c")


def write():
    rng = random.Random()
    while time.monotonic() < until:
        batch = [row() for _ in range(rng.choice((1, 1, 5, 20)))]
        try:
            warehouse.insert("interactions", batch)
        except Exception as exc:
            errors.append(repr(exc))
            continue
        with lock:
            written.extend(r["interaction_id"] for r in batch)
        get_interaction(warehouse, batch[-1]["interaction_id"])
        time.sleep(rng.random() * 0.03)


threads = [threading.Thread(target=write) for _ in range(int(sys.argv[3]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
Path(sys.argv[4]).write_text(json.dumps({"written": written, "errors": errors}))
"""


def test_rows_committed_by_threads_of_several_processes_all_stay(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    DuckDbWarehouse(path).create_tables()
    outputs = [tmp_path / f"written-{n}.json" for n in range(PROCESSES)]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(SECONDS), str(THREADS), str(out)],
            cwd=REPO,
        )
        for out in outputs
    ]
    for writer in writers:
        assert writer.wait(timeout=180) == 0
    results = [json.loads(out.read_text()) for out in outputs]
    written = {i for result in results for i in result["written"]}
    assert len(written) > 500  # they really raced
    errors = [e for result in results for e in result["errors"]]
    assert errors == []
    found = {
        row["interaction_id"]
        for row in DuckDbWarehouse(path).query("SELECT interaction_id FROM interactions")
    }
    lost = written - found
    assert not lost, f"{len(lost)} of {len(written)} committed rows lost"


def _writer(path: str, start: int) -> None:
    warehouse = DuckDbWarehouse(Path(path))
    for i in range(start, start + 25):
        record_interaction(warehouse, interaction_row(
            interaction_id=f"p{i}", channel="telegram", image_id="a" * 64,
            model_version="v0", top3=[("dog", 0.7), ("cat", 0.2), ("other", 0.1)],
            probabilities=[0.0] * 16, user_id="telegram:1", latency_ms=12.5,
        ))  # fmt: skip


def test_several_processes_share_the_file(tmp_path: Path) -> None:
    warehouse = DuckDbWarehouse(tmp_path / "warehouse.duckdb")
    warehouse.create_tables()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(str(warehouse.path), n * 25)) for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert warehouse.query("SELECT COUNT(*) AS n FROM interactions") == [{"n": 75}]
