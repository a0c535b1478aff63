"""The gate on synthetic pairs whose true difference is known (``testkit.gate_pairs``)."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import PromotionSettings
from retraining.evaluate import gate
from testkit.gate_pairs import draw, uniform


def test_the_pairs_have_the_recalls_and_discordance_asked_for() -> None:
    scenario = uniform("one label worse", 20000, 0.05, label3=-0.30)
    truth, champion, challenger = draw(scenario, np.random.default_rng(0))
    champion_right, challenger_right = champion == truth, challenger == truth
    assert champion_right.mean() == pytest.approx(0.85, abs=0.01)
    for label, delta in ((0, 0.05), (3, -0.30)):
        mask = truth == label
        gain = challenger_right[mask].mean() - champion_right[mask].mean()
        assert gain == pytest.approx(delta, abs=0.012)
    discordant = (champion_right != challenger_right)[truth == 0].mean()
    assert discordant == pytest.approx(0.08, abs=0.01)


def share_promoted(scenario_args: tuple[str, int, float], draws: int, **changed: float) -> float:
    scenario = uniform(*scenario_args, **changed)
    rng = np.random.default_rng(1)
    policy = PromotionSettings()
    return float(np.mean([gate(*draw(scenario, rng), policy).passed for _ in range(draws)]))


def test_an_equal_challenger_is_rarely_promoted() -> None:
    assert share_promoted(("equal", 30, 0.0), 400) <= 0.05
    assert share_promoted(("worse", 5, -0.02), 400) <= 0.05


def test_a_clearly_better_challenger_is_promoted_and_a_sacrificed_label_stops_it() -> None:
    assert share_promoted(("better", 30, 0.10), 200) >= 0.9
    assert share_promoted(("one label lost", 30, 0.10), 200, label0=-0.40) <= 0.02
