"""Inference speed on CPU: naive Keras, tf.function, LiteRT, ONNX Runtime and the serving path.

Every engine runs on the same real photos (animals-dev), at batch 1 and batch 32, in
interleaved rounds so that background load hits them alike; figures are medians over rounds.
Top-1 agreement is against the reference Keras model (ImageNet class for the runtimes, the
16-way label for the serving path). Then the serving path goes from JPEG bytes to top 3 in
one worker process per core (one interpreter thread each), as workers are deployed.

    .venv/bin/python bench/inference.py [--photos 200] [--rounds 3] [--data-dir DIR]

The last line reads ``serving path: <R1>x naive at batch 1, <R2>x of fastest runtime at
batch 32, <N> photos/s from JPEG``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.model import preprocess
from core.model.classifier import taxonomy_log_probs
from core.model.handle import ModelHandle
from core.model.runtime import KerasEngine, open_engine
from core.settings import Settings, load_settings

DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "animals-dev"
NAIVE_PHOTOS = 48  # the naive path is slow; it runs on the first photos only


@dataclass
class Case:
    """One engine at one batch size, with its measurements over rounds."""

    name: str
    batch: int
    run: Callable[[np.ndarray], np.ndarray]  # returns per-photo predicted class
    runtime: bool = True  # counts for "fastest runtime"
    photos: int | None = None
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    predicted: np.ndarray | None = None

    def measure(self, inputs: np.ndarray) -> None:
        """Run one round over the photos."""
        inputs = inputs[: self.photos] if self.photos else inputs
        outputs = []
        start = time.perf_counter()
        for i in range(0, len(inputs) - self.batch + 1, self.batch):
            began = time.perf_counter()
            outputs.append(self.run(inputs[i : i + self.batch]))
            self.latencies.append((time.perf_counter() - began) * 1000)
        self.rates.append(sum(len(o) for o in outputs) / (time.perf_counter() - start))
        self.predicted = np.concatenate(outputs)

    @property
    def rate(self) -> float:
        """Median photos per second over rounds."""
        return float(np.median(self.rates))


def build_cases(settings: Settings, threads: int, reference: KerasEngine) -> list[Case]:
    """Every engine and batch size to compare."""
    model = reference.model
    cases = [Case("naive keras predict", 1, lambda x: _top(model.predict(x, verbose=0)[1]),
                  runtime=False, photos=NAIVE_PHOTOS)]  # fmt: skip
    for batch in (1, 32):
        cases.append(Case("tf.function", batch, lambda x: _top(reference.run(x)[1])))
    engines = {}
    for runtime in ("litert", "onnx"):
        for count in sorted({1, threads}):
            engine = open_engine(_with(settings, threads=count), runtime)
            engines[runtime, count] = engine
            for batch in (1, 32):
                cases.append(Case(f"{runtime} fp32 x{count}", batch, _runner(engine)))
    serving = ModelHandle.from_settings(_with(settings, threads=threads)).get()
    for batch in (1, 32):
        cases.append(
            Case(
                f"serving ({serving.engine.name} x{threads})",
                batch,
                lambda x: np.array([_label(p.probabilities) for p in serving.predict_batch(x)]),
                runtime=False,
            )
        )
    return cases


def _runner(engine: object) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: _top(engine.run(x)[1])  # type: ignore[attr-defined]


def _top(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits).argmax(axis=1)


def _label(probabilities: list[float]) -> int:
    return int(np.argmax(probabilities))


def _with(settings: Settings, **model: object) -> Settings:
    return settings.model_copy(update={"model": settings.model.model_copy(update=model)})


def report(cases: list[Case], reference_top1: np.ndarray, reference_labels: np.ndarray) -> None:
    """Print the comparison table."""
    naive = next(c for c in cases if c.name.startswith("naive")).rate
    fastest = {b: max(c.rate for c in cases if c.runtime and c.batch == b) for b in (1, 32)}
    header = f"{'path':<26}{'batch':>6}{'img/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'x naive':>9}{'x fastest':>11}{'top-1 agree':>14}")
    for case in cases:
        if case.predicted is None:
            continue
        truth = reference_labels if case.name.startswith("serving") else reference_top1
        agree = int((case.predicted == truth[: len(case.predicted)]).sum())
        p50, p99 = np.percentile(case.latencies, [50, 99])
        print(
            f"{case.name:<26}{case.batch:>6}{case.rate:>9.1f}{p50:>9.2f}{p99:>9.2f}"
            f"{case.rate / naive:>9.1f}{case.rate / fastest[case.batch]:>11.2f}"
            f"{agree:>8}/{len(case.predicted):<5}"
        )
    for batch in (1, 32):
        best = max((c for c in cases if c.runtime and c.batch == batch), key=lambda c: c.rate)
        others = sorted((c.rate for c in cases if c.runtime and c.batch == batch), reverse=True)
        margin = best.rate / others[1] if len(others) > 1 else 1.0
        print(f"fastest runtime at batch {batch}: {best.name} ({margin:.2f}x the runner-up)")


def _worker(
    settings: Settings, photos: list[bytes], ready: object, go: object, out: object
) -> None:
    """One serving worker process: decode, resize, forward, top 3, one photo at a time."""
    classifier = ModelHandle.from_settings(settings).get()
    classifier.predict_batch(preprocess.bytes_to_input(photos[0])[None])  # warm up
    ready.put(os.getpid())  # type: ignore[attr-defined]
    go.wait()  # type: ignore[attr-defined]
    start = time.perf_counter()
    for data in photos:
        (prediction,) = classifier.predict_batch(preprocess.bytes_to_input(data)[None])
        if len(prediction.top3) != 3:
            raise RuntimeError("a prediction without a top 3")
    out.put((start, time.perf_counter(), len(photos)))  # type: ignore[attr-defined]


def jpeg_throughput(settings: Settings, photos: list[bytes], processes: int) -> float:
    """Photos per second from JPEG bytes to top 3 with one 1-thread worker per core."""
    context = mp.get_context("spawn")  # TensorFlow must not be forked
    ready, out, go = context.Queue(), context.Queue(), context.Event()
    single = _with(settings, threads=1)
    shares = [photos[i::processes] for i in range(processes)]
    workers = [context.Process(target=_worker, args=(single, share, ready, go, out))
               for share in shares]  # fmt: skip
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=300)
    go.set()
    results = [out.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join()
    began = min(r[0] for r in results)
    ended = max(r[1] for r in results)
    return sum(r[2] for r in results) / (ended - began)


def main() -> None:
    """Run every case and print the table and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = load_settings(**overrides)
    paths = sorted(DATASET.glob("*/*.jpg"))
    paths = paths[:: max(1, len(paths) // args.photos)][: args.photos]
    photos = [p.read_bytes() for p in paths]
    inputs = np.stack([preprocess.bytes_to_input(d) for d in photos]).astype(np.float32)

    from core.model.sources import build_backbone

    reference = KerasEngine(build_backbone(settings))
    logits = np.concatenate([reference.run(inputs[i : i + 50])[1]
                             for i in range(0, len(inputs), 50)])  # fmt: skip
    reference_top1 = logits.argmax(axis=1)
    reference_labels = taxonomy_log_probs(logits).argmax(axis=1)
    cases = build_cases(settings, args.threads, reference)
    for case in cases:  # warm-up round, not counted
        case.measure(inputs[: 2 * case.batch])
        case.rates.clear()
        case.latencies.clear()
    for _ in range(args.rounds):
        for case in cases:
            case.measure(inputs)
    print(f"{len(photos)} animals-dev photos, {args.rounds} rounds, {args.threads} threads")
    report(cases, reference_top1, reference_labels)
    rates = [jpeg_throughput(settings, photos * 2, args.threads) for _ in range(args.rounds)]
    jpeg = float(np.median(rates))
    print(f"JPEG bytes to top 3, {args.threads} worker processes x 1 thread: {jpeg:.0f} photos/s")
    naive = next(c for c in cases if c.name.startswith("naive")).rate
    serving = {c.batch: c.rate for c in cases if c.name.startswith("serving")}
    fastest32 = max(c.rate for c in cases if c.runtime and c.batch == 32)
    print(
        f"serving path: {serving[1] / naive:.1f}x naive at batch 1, "
        f"{serving[32] / fastest32:.2f}x of fastest runtime at batch 32, "
        f"{jpeg:.0f} photos/s from JPEG"
    )


if __name__ == "__main__":
    main()
