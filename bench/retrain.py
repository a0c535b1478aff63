"""Wall time of one retrain round for 2,000 new labelled photos, computing their embeddings.

People's photos and answers are written first (no features cached, as if nothing had
embedded them yet); then one forced round runs: embeddings for every photo, curation,
dataset versions, training, evaluation, gate and promotion. Prints the phases' times.

    .venv/bin/python bench/retrain.py [--photos 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from core.settings import load_settings
from retraining.loop import retrain
from retraining.resources import open_resources
from retraining.simulate import Simulation, load_photos, stratified_split

REPO = Path(__file__).resolve().parent.parent
ANIMALS_DEV = REPO.parent / "shared" / "datasets" / "animals-dev"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    photos = load_photos(ANIMALS_DEV)
    stream, _ = stratified_split(photos, 1 - args.photos / len(photos), seed=0)
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as temp:
        data_dir = Path(temp)
        (data_dir / "cache").symlink_to(REPO / "var" / "cache", target_is_directory=True)
        settings = load_settings(
            data_dir=data_dir, model={"runtime": "litert", "threads": args.threads}
        )
        resources = open_resources(settings)
        simulation = Simulation(resources, [], noise=0.0, seed=0)
        # Answers without running the model: every photo is new to the feature cache.
        flat = np.full((len(stream), 16), 1 / 16)
        simulation.record(stream, flat, "v0")
        print("uncached photos:", len(resources.features.missing([p.image_id for p in stream])))
        started = time.perf_counter()
        outcome = retrain(resources, settings, force=True)
        total = time.perf_counter() - started
    print(f"photos: {len(stream)} (threads {args.threads})")
    print(f"status: {outcome.status} {outcome.challenger} ({outcome.reason})")
    print(f"retrain round wall time: {total:.1f} s, embeddings included")


if __name__ == "__main__":
    main()
