"""Simulated answers for the staging test, for its unit tests and ``bench/staging.py``.

A stream is people answering shadow predictions one after another. An answer is discordant
(exactly one of the two models right) with probability ``discordance``, and a discordant
answer favours the staged model with probability ``p``; ``p = 1/2`` is "no difference". The
review is taken to run after every answer. Concordant answers leave ``b`` and ``c`` as they
were, so that is judging after every discordant answer, at the answer where it came, and
applying the budget once the next discordant answer would come after it. Every decision is
the real ``SequentialTest.judge``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from retraining.sequential import SequentialTest


@dataclass(frozen=True)
class Outcomes:
    """How each simulated staging ended, and after how many answers."""

    decisions: NDArray[np.str_]  # "promote" or "refuse"
    answers: NDArray[np.int64]
    spent: NDArray[np.bool_]  # refused because the budget ran out undecided

    def share(self, decision: str) -> float:
        """Return the share of streams that ended with ``decision``."""
        return float(np.mean(self.decisions == decision))


def simulate(
    test: SequentialTest,
    *,
    p: float,
    discordance: float,
    streams: int,
    rng: np.random.Generator,
) -> Outcomes:
    """Run ``streams`` stagings to their end under ``test``."""
    budget = test.max_answers
    expected = budget * discordance
    room = int(expected + 8 * math.sqrt(expected) + 10)  # discordant answers within the budget
    wins = np.cumsum(rng.random((streams, room)) < p, axis=1)
    at = np.cumsum(rng.geometric(discordance, (streams, room)), axis=1)  # their answer numbers
    decisions = np.full(streams, "waiting", dtype="<U7")
    answers = np.full(streams, budget, dtype=np.int64)
    spent = np.zeros(streams, dtype=np.bool_)
    running = np.arange(streams)
    for k in range(room):
        late = running[at[running, k] > budget]
        for stream in late:  # undecided when the budget ran out
            b = int(wins[stream, k - 1]) if k else 0
            decisions[stream] = test.judge(b, k - b, budget).decision
        spent[late] = True
        running = running[at[running, k] <= budget]
        if running.size == 0:
            break
        values, inverse = np.unique(wins[running, k], return_inverse=True)
        judged = np.array([test.judge(int(b), k + 1 - int(b), k + 1).decision for b in values])
        decided = judged[inverse.ravel()]
        done = running[decided != "waiting"]
        decisions[done], answers[done] = decided[decided != "waiting"], at[done, k]
        running = running[decided == "waiting"]
    if running.size:
        raise AssertionError("the simulation ran out of discordant answers before the budget")
    return Outcomes(decisions, answers, spent)


def promotion_chance(test: SequentialTest, *, p: float, pairs: int) -> tuple[float, float]:
    """Return the exact chances of promotion within ``pairs`` discordant answers, and of none.

    Dynamic programming over ``b`` after each discordant answer, with no budget (a budget can
    only refuse). The chance of promotion with unlimited answers lies between the first figure
    and the sum of both.
    """
    undecided = {0: 1.0}  # b -> chance of reaching it, undecided, after n discordant answers
    promoted = 0.0
    for n in range(1, pairs + 1):
        reached: dict[int, float] = {}
        for b, chance in undecided.items():
            reached[b + 1] = reached.get(b + 1, 0.0) + chance * p
            reached[b] = reached.get(b, 0.0) + chance * (1 - p)
        undecided = {}
        for b, chance in reached.items():
            decision = test.judge(b, n - b, answered=0).decision
            if decision == "promote":
                promoted += chance
            elif decision == "waiting":
                undecided[b] = chance
    return promoted, sum(undecided.values())
