"""Worker throughput: 500 classify jobs for real photos, 1 and 2 worker processes.

Then every job's person answers at once, and the figures say how many answers were sent,
how many the senders were told were recorded, and how many feedback rows were written.

Real ``python -m workers worker`` processes (production model, prefork pool) on a private
redis-server and a fresh data directory. All jobs are enqueued at once; queue-to-done is
from the moment a job was sent to the moment its result was stored (Celery's date_done).
Beside it: the in-process classifier on the same photos at the same batch size (1),
predict only and with the worker's per-job work (load from the store, intake, predict).

    .venv/bin/python bench/workers.py [--jobs 500] [--processes 1 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from celery.result import AsyncResult

from core.images import intake
from core.model.handle import ModelHandle
from core.photos import store_photo
from core.queue import enqueue_classify, enqueue_feedback, task_client
from core.schemas import ClassifyRequest, FeedbackRequest
from core.settings import Settings
from core.storage import open_store
from core.warehouse import open_warehouse
from testkit.workers_support import (
    RedisServer,
    WorkerProcess,
    make_data_dir,
    settings_for,
    worker_env,
)

DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "animals-dev"


def real_photos(count: int) -> list[Path]:
    """``count`` real photos, spread over the labels (no 32x32 CIFAR ones)."""
    by_label = [sorted(p for p in d.glob("*.jpg") if not p.name.startswith("cifar_"))
                for d in sorted(DATASET.iterdir()) if d.is_dir()]  # fmt: skip
    chosen: list[Path] = []
    while len(chosen) < count and any(by_label):
        for photos in by_label:
            if photos and len(chosen) < count:
                chosen.append(photos.pop(0))
    return chosen


def seed(settings: Settings, paths: list[Path]) -> list[str]:
    """Store the photos; return their image ids."""
    store, warehouse = open_store(settings), open_warehouse(settings)
    ids = []
    for path in paths:
        photo = intake(path.read_bytes())
        store_photo(store, warehouse, photo, source="upload")
        ids.append(photo.sha256)
    return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_workers(settings: Settings, env: dict[str, str], ids: list[str], processes: int,
                log: Path) -> dict[str, float]:  # fmt: skip
    client = task_client(settings)
    worker = WorkerProcess(env, log, "--concurrency", str(processes)).start(ready_timeout=120)
    try:
        warm = [enqueue_classify(client, _request(i)) for i in ids[: 4 * processes]]
        for result in warm:
            result.get(timeout=120)
        sent: dict[str, float] = {}
        results: list[AsyncResult] = []
        started = time.time()
        interaction_ids = []
        for image_id in ids:
            request = _request(image_id)
            interaction_ids.append(request.interaction_id)
            results.append(enqueue_classify(client, request))
            sent[results[-1].id] = time.time()
        latencies, finished = [], []
        for result in results:
            result.get(timeout=600)
            done = _date_done(result)
            latencies.append((done - sent[result.id]) * 1000)
            finished.append(done)
        elapsed = max(finished) - started
        # Everyone answers at once ("wrong, it's a cat"), the heaviest load this bench drives.
        answers = [enqueue_feedback(client, _answer(i)) for i in interaction_ids]
        told = 0
        for answer in answers:
            try:
                answer.get(timeout=600)
                told += 1
            except Exception as exc:  # a refusal is counted, not fatal
                print(f"answer not recorded: {exc!r}", flush=True)
    finally:
        worker.stop()  # a warm shutdown flushes the interaction log
        client.close()
    logged = open_warehouse(settings).query(
        "SELECT COUNT(*) AS n FROM interactions WHERE interaction_id IN UNNEST(@ids)",
        {"ids": interaction_ids},
    )[0]["n"]
    written = open_warehouse(settings).query(
        "SELECT COUNT(*) AS n FROM feedback WHERE interaction_id IN UNNEST(@ids)",
        {"ids": interaction_ids},
    )[0]["n"]
    print(f"{processes} process(es): {logged} of {len(interaction_ids)} interactions logged; "
          f"answers sent {len(interaction_ids)}, told recorded {told}, "
          f"feedback rows written {written}", flush=True)  # fmt: skip
    return {
        "jobs_per_s": len(ids) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 99),
    }


def _request(image_id: str) -> ClassifyRequest:
    return ClassifyRequest(interaction_id=uuid.uuid4().hex, image_id=image_id, channel="api")


def _answer(interaction_id: str) -> FeedbackRequest:
    return FeedbackRequest(interaction_id=interaction_id, user_id="api:bench", correct=False,
                           label="cat", channel="api", feedback_id=uuid.uuid4().hex)  # fmt: skip


def _date_done(result: AsyncResult) -> float:
    done = result.date_done
    if isinstance(done, str):
        done = dt.datetime.fromisoformat(done)
    if done.tzinfo is None:
        done = done.replace(tzinfo=dt.UTC)
    return float(done.timestamp())


def in_process(settings: Settings, ids: list[str]) -> dict[str, float]:
    """The classifier in this process at batch size 1: predict only, and with intake."""
    store, warehouse = open_store(settings), open_warehouse(settings)
    keys = {r["image_id"]: r["storage_key"] for r in warehouse.query("SELECT * FROM images")}
    handle = ModelHandle.from_settings(settings, store)
    model = handle.get()
    images = [intake(store.get(keys[i]), draft_size=448).image for i in ids]
    model.predict(images[:4])
    started = time.perf_counter()
    for image in images:
        model.predict([image])
    predict_only = len(images) / (time.perf_counter() - started)
    started = time.perf_counter()
    for image_id in ids:
        model.predict([intake(store.get(keys[image_id]), draft_size=448).image])
    with_intake = len(ids) / (time.perf_counter() - started)
    return {"predict_only": predict_only, "with_intake": with_intake}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as temp:
        root = Path(temp)
        server = RedisServer(root).start()
        try:
            env = worker_env(make_data_dir(root / "var"), server.url)
            settings = settings_for(env)
            ids = seed(settings, real_photos(args.jobs))
            print(f"{len(ids)} photos stored; load average {os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} cores", flush=True)  # fmt: skip
            rows = {n: run_workers(settings, env, ids, n, root / f"worker-{n}.log")
                    for n in args.processes}  # fmt: skip
            local = in_process(settings, ids)
        finally:
            server.stop()
    print("\n| worker processes | jobs/s | p50 queue-to-done | p99 queue-to-done |")
    print("|---|---|---|---|")
    for n, row in rows.items():
        print(
            f"| {n} | {row['jobs_per_s']:.1f} | {row['p50_ms']:.0f} ms | {row['p99_ms']:.0f} ms |"
        )
    print(f"\nin-process classifier, batch 1: {local['predict_only']:.1f} photos/s predict only, "
          f"{local['with_intake']:.1f} photos/s with store read + intake")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
