"""Synthetic champion/challenger pairs with known differences, for the gate's bench and tests.

Each label has ``support`` test photos. The champion gets a photo of label ``c`` right with
probability ``recall``; the challenger's recall there is ``recall + delta[c]``, and the two
disagree (exactly one right) on a share ``discordance`` of the photos (at least
``|delta| + 0.02``). Solving the two marginals for the paired cells: the challenger loses a
photo the champion had right with probability ``(d - delta) / 2`` and wins one the champion
had wrong with probability ``(d + delta) / 2``. A wrong answer names another label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

LABELS = 16


@dataclass(frozen=True)
class Scenario:
    """What is true of a pair: the champion's recall and the challenger's change per label."""

    name: str
    support: tuple[int, ...]  # test photos per label
    delta: tuple[float, ...]  # the challenger's true recall change per label
    recall: float = 0.85
    discordance: float = 0.08

    def better(self) -> bool:
        """True when the challenger is truly better overall (its expected accuracy is higher)."""
        return float(np.dot(self.support, self.delta)) > 0


def uniform(name: str, support: int, delta: float, **changed: float) -> Scenario:
    """A scenario with ``support`` photos and change ``delta`` on every label but ``changed``.

    ``changed`` maps ``label<index>`` to that label's change, e.g. ``label0=-0.4``.
    """
    deltas = [delta] * LABELS
    for key, value in changed.items():
        deltas[int(key.removeprefix("label"))] = value
    return Scenario(name, (support,) * LABELS, tuple(deltas))


def draw(
    scenario: Scenario, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """One test set: (truth, champion's predictions, challenger's predictions)."""
    truth = np.repeat(np.arange(LABELS), scenario.support).astype(np.int64)
    delta = np.asarray(scenario.delta)[truth]
    d = np.maximum(scenario.discordance, np.abs(delta) + 0.02)
    r = scenario.recall
    lose = (d - delta) / 2 / r  # P(challenger wrong | champion right)
    win = (d + delta) / 2 / (1 - r)  # P(challenger right | champion wrong)
    champion_right = rng.random(len(truth)) < r
    u = rng.random(len(truth))
    challenger_right = np.where(champion_right, u >= lose, u < win)
    champion = np.where(champion_right, truth, (truth + 1) % LABELS)
    challenger = np.where(challenger_right, truth, (truth + 2) % LABELS)
    return truth, champion.astype(np.int64), challenger.astype(np.int64)
