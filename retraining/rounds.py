"""How a simulated stream is cut into rounds: spread evenly, with a burst, or by answers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from retraining.simulate import Simulation


@dataclass(frozen=True)
class Burst:
    """A label whose photos all arrive in one round (1-based) instead of spread over all."""

    label: str
    round: int


@dataclass(frozen=True)
class Photo:
    """A labelled photo file and its image id."""

    path: Path
    label: str
    image_id: str


def round_photos(
    stream: list[Photo], rounds: int, seed: int, burst: Burst | None = None
) -> list[list[Photo]]:
    """Cut the shuffled stream into the photos of each round.

    With a ``burst``, every photo of its label arrives in its round (among that round's
    share of the others) and in no other: a shifted stream.
    """
    rng = np.random.default_rng(seed)
    order = [stream[i] for i in rng.permutation(len(stream))]
    held = [p for p in order if burst is not None and p.label == burst.label]
    rest = [p for p in order if burst is None or p.label != burst.label]
    chunks = [[rest[i] for i in chunk] for chunk in np.array_split(np.arange(len(rest)), rounds)]
    if burst is not None and held:
        mixed = chunks[burst.round - 1] + held
        chunks[burst.round - 1] = [mixed[i] for i in rng.permutation(len(mixed))]
    return chunks


def rounds_by_answers(
    simulation: Simulation, stream: list[Photo], answers: int, seed: int, limit: int | None
) -> list[list[Photo]]:
    """Cut the shuffled stream into rounds of ``answers`` answers each.

    The photo that reaches the count ends its round; a last round short of it is not sent.
    """
    order = round_photos(stream, 1, seed)[0]
    chunks: list[list[Photo]] = []
    chunk: list[Photo] = []
    count = 0
    for photo in order:
        if limit is not None and len(chunks) == limit:
            break
        chunk.append(photo)
        count += len(simulation.senders(photo))
        if count >= answers:
            chunks.append(chunk)
            chunk, count = [], 0
    return chunks
