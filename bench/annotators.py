"""Wall time of the annotator model for 2,000 people and 100,000 answers (target: under 5 s).

Synthetic answers: 40,000 photos of 16 labels, each answer by a person drawn at random, a
tenth of the people answering at random, the rest right 60-99% of the time. Prints the time,
the EM iterations, and how close the reliabilities came to the truth.

    .venv/bin/python bench/annotators.py [--people 2000] [--answers 100000] [--photos 40000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from core.annotators import KNOWN, Answers, estimate, one_coin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--photos", type=int, default=40_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = 16
    truth = rng.integers(labels, size=args.photos)
    accuracy = rng.uniform(0.6, 0.99, args.people)
    careless = rng.random(args.people) < 0.1
    accuracy[careless] = 1 / labels
    items = rng.integers(args.photos, size=args.answers)
    people = rng.integers(args.people, size=args.answers)
    rows = one_coin(accuracy, labels)[people, truth[items]]
    answered = np.minimum((rng.random(args.answers)[:, None] > rows.cumsum(axis=1)).sum(axis=1),
                          labels - 1)  # fmt: skip
    answers = Answers(items, people, answered, np.full(args.people, KNOWN), args.photos, labels)
    started = time.perf_counter()
    found = estimate(answers)
    seconds = time.perf_counter() - started
    bad, good = found.reliability[careless], found.reliability[~careless]
    auroc = float((bad[:, None] < good[None, :]).mean())
    print(f"{args.people} people, {args.answers} answers, {args.photos} photos: {seconds:.2f} s, "
          f"{found.iterations} EM iterations")  # fmt: skip
    print(f"reliability: mean error {np.abs(found.reliability - accuracy).mean():.3f} "
          f"(shrunk towards the newcomer prior), careless people ranked below the others "
          f"with AUROC {auroc:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
