"""Synthetic head inputs (no tests here): 16 separable clusters, v0 log-probs a flat hint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.model.api import EMBEDDING_SIZE


@dataclass(frozen=True)
class Synthetic:
    inputs: np.ndarray  # (N, 1296)
    labels: np.ndarray  # (N,)


def synthetic(n_per_label: int, seed: int, labels: range = range(16)) -> Synthetic:
    centres = np.abs(np.random.default_rng(99).normal(size=(16, EMBEDDING_SIZE)))
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.asarray(list(labels)), n_per_label)
    embeddings = np.abs(centres[truth] + rng.normal(scale=1.5, size=(len(truth), EMBEDDING_SIZE)))
    log_probs = np.full((len(truth), 16), np.log(1 / 16))
    return Synthetic(np.concatenate([embeddings, log_probs], axis=1).astype(np.float32), truth)
