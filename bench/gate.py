"""How often the promotion gate promotes, on synthetic pairs whose true difference is known.

Each scenario (``testkit.gate_pairs``) fixes the champion's recall (0.85 on every label), the
challenger's true change per label and the number of test photos per label: 5 (the test set
of the first rounds) or 30 (the most the loop holds out per label). Every draw is judged by
the real ``retraining.evaluate.gate`` with the default promotion settings.

Printed per scenario: the share of draws promoted. Where the challenger is truly no better
that share is the false-promotion rate; where one label truly loses a lot it is the rate at
which that label is sacrificed; elsewhere it is the power.

    .venv/bin/python bench/gate.py [--draws 4000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import PromotionSettings
from retraining.evaluate import gate
from testkit.gate_pairs import Scenario, draw, uniform

THREE_WORSE = {"label0": -0.1, "label1": -0.1, "label2": -0.1}


def scenarios(support: int) -> list[tuple[Scenario, str]]:
    """The scenarios at one test-set size, each with what its share measures."""
    return [
        (uniform("equal everywhere", support, 0.0), "false promotion"),
        (uniform("2 points worse everywhere", support, -0.02), "false promotion"),
        (uniform("5 points better everywhere", support, 0.05), "power"),
        (uniform("10 points better everywhere", support, 0.10), "power"),
        (uniform("only one label 10 better", support, 0.0, label0=0.10), "power"),
        (uniform("10 better, one label 40 worse", support, 0.10, label0=-0.40), "sacrificed"),
        (uniform("10 better, one label 15 worse", support, 0.10, label0=-0.15), "sacrificed"),
        (uniform("10 better, three labels 10 worse", support, 0.10, **THREE_WORSE), "sacrificed"),
    ]


def promoted(scenario: Scenario, policy: PromotionSettings, draws: int, seed: int) -> float:
    """Share of ``draws`` test sets on which the gate promotes."""
    rng = np.random.default_rng(seed)
    passed = 0
    for _ in range(draws):
        truth, champion, challenger = draw(scenario, rng)
        passed += gate(truth, champion, challenger, policy).passed
    return passed / draws


def main() -> None:
    """Print the promotion shares."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    policy = PromotionSettings()
    started = time.perf_counter()
    for support in (5, 30):
        print(f"{support} test photos per label ({16 * support} in all), {args.draws} draws each")
        print(f"  {'scenario':42} {'promoted':>8}  measures")
        for scenario, measures in scenarios(support):
            share = promoted(scenario, policy, args.draws, args.seed)
            print(f"  {scenario.name:42} {share:8.3f}  {measures}")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
