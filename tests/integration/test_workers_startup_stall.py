"""A worker process whose start meets a held warehouse file comes up once the file is free.

Another process (a DuckDB shell, a long retrain) holds the file for longer than a warehouse
call waits while a pool process builds its context: the build fails, tasks meanwhile get a
transient error (Celery retries them), and the process keeps trying until the file is free,
instead of staying without a context ("worker context missing") for good.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.warehouse import duckdb_backend, open_warehouse
from testkit.workers_support import (
    make_data_dir,
    settings_for,
    wait_until,
    worker_env,
)
from tests.fakes.colour_classifier import TEST_CLASSIFIER
from workers.context import ContextHolder, WorkerContext, load_factory, open_context
from workers.transient import TransientError

# Holds the warehouse file without taking turns, until its stdin closes.
HOLDER = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1])
connection.execute("SELECT COUNT(*) FROM interactions").fetchall()
print("held", flush=True)
sys.stdin.read()
connection.close()
"""


def built(holder: ContextHolder) -> WorkerContext | None:
    """The holder's context, or None while it is still being built."""
    try:
        return holder.get()
    except TransientError:
        return None


def test_a_context_built_while_the_warehouse_is_held_comes_up_once_it_is_free(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(worker_env(make_data_dir(tmp_path / "var"), redis_url))
    open_warehouse(settings)  # the file and its tables exist, as after a first start
    # A warehouse call waits half a second for the file here instead of 30.
    monkeypatch.setattr(duckdb_backend, "_LOCK_WAIT_SECONDS", 0.5)
    factory = load_factory(TEST_CLASSIFIER)
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.warehouse_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdin is not None
    started: list[WorkerContext] = []
    holder = ContextHolder(wait=0.2, retry=0.1, retry_max=0.2)
    try:
        assert other.stdout.readline().strip() == "held"
        holder.build(lambda: open_context(settings, factory), started.append)
        with pytest.raises(TransientError):
            holder.get()  # the file is still held: not built, and no flusher started
        assert started == []
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    context = wait_until(lambda: built(holder), 30, "the context once the file is free")
    try:
        assert started == [context]  # the flusher starts with the context, once
        rows = context.warehouse.query("SELECT COUNT(*) AS n FROM interactions")
        assert int(rows[0]["n"]) == 0
    finally:
        holder.stop_building()
        holder.set(None)
        context.warehouse.close()
        context.redis.close()


def test_a_process_whose_start_never_ran_says_so() -> None:
    with pytest.raises(RuntimeError, match="worker context missing"):
        ContextHolder().get()
