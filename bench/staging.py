"""How the staging test behaves, by simulation: false promotions, and answers to a decision.

Assumptions. People answer shadow predictions one after another and the review runs after
every answer (the most looks there can be; the hourly review looks less often). An answer
is discordant (exactly one of the two models right) with probability d; a discordant answer
favours the staged model with probability p. "No difference" is p = 1/2. Production right on
85% of answers and the staged model on 88% means p = 1/2 + 0.03 / (2 d): for d = 0.06, 0.10
and 0.20 that is 0.75, 0.65 and 0.575 (d is at least 0.03 and at most 0.27 here).

Printed: (1) the share of stagings that end in promotion when the models are equally good,
beside the rule staging used before (promote after 100 shadow requests when the staged model
agreed with the answers at least as often as production), once with every request answered
and once with a third answered; (2) with the staged model 3 points better, how often it is
promoted and how many answers (concordant ones included) the decision took. The test is
``retraining.sequential`` with the default settings unless told otherwise.

    .venv/bin/python bench/staging.py [--streams 10000] [--seed 0] [--effect 0.1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import PromotionSettings
from retraining.sequential import SequentialTest
from testkit.staging_streams import promotion_chance, simulate

DISCORDANCE = (0.06, 0.10, 0.20)
PRODUCTION, CHALLENGER = 0.85, 0.88
NAIVE_REQUESTS = 100


def naive_promotions(
    p: float, d: float, answered: float, streams: int, rng: np.random.Generator
) -> float:
    """Share promoted by the old rule: after 100 requests, b >= c (no answers also promoted)."""
    answers = rng.binomial(NAIVE_REQUESTS, answered, streams)
    discordant = rng.binomial(answers, d)
    b = rng.binomial(discordant, p)
    return float(np.mean(2 * b >= discordant))


def false_promotions(test: SequentialTest, streams: int, rng: np.random.Generator) -> None:
    """Print (1): equally good models."""
    exact, undecided = promotion_chance(test, p=0.5, pairs=3000)
    print(f"(1) no difference (p = 0.5), reviewed after every answer, {streams} stagings each")
    print(f"    exact chance of ever promoting, no budget: {exact:.4f}"
          f" (undecided after 3000 discordant answers: {undecided:.0e})")  # fmt: skip
    print("    d     sequential  refused at budget  old rule (all answered)  (1/3 answered)")
    for d in DISCORDANCE:
        outcomes = simulate(test, p=0.5, discordance=d, streams=streams, rng=rng)
        naive_all = naive_promotions(0.5, d, 1.0, streams, rng)
        naive_third = naive_promotions(0.5, d, 1 / 3, streams, rng)
        print(f"    {d:.2f}  {outcomes.share('promote'):10.4f}  {np.mean(outcomes.spent):17.4f}"
              f"  {naive_all:23.4f}  {naive_third:14.4f}")  # fmt: skip


def answers_needed(test: SequentialTest, streams: int, rng: np.random.Generator) -> None:
    """Print (2): the staged model 3 accuracy points better."""
    print(f"(2) production {PRODUCTION:.2f}, staged {CHALLENGER:.2f}, {streams} stagings each")
    print("    d     p      promoted  refused  at budget  answers: median   p90   old rule")
    for d in DISCORDANCE:
        p = 0.5 + (CHALLENGER - PRODUCTION) / (2 * d)
        outcomes = simulate(test, p=p, discordance=d, streams=streams, rng=rng)
        median, p90 = np.percentile(outcomes.answers, [50, 90])
        refused = outcomes.share("refuse") - float(np.mean(outcomes.spent))
        naive = naive_promotions(p, d, 1.0, streams, rng)
        print(f"    {d:.2f}  {p:.3f}  {outcomes.share('promote'):8.3f}  {refused:7.3f}"
              f"  {np.mean(outcomes.spent):9.3f}  {median:15.0f}  {p90:5.0f}"
              f"  {naive:9.3f}")  # fmt: skip


def main() -> None:
    """Parse the options, run both simulations and print their figures."""
    defaults = PromotionSettings()
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=defaults.staging_alpha)
    parser.add_argument("--beta", type=float, default=defaults.staging_beta)
    parser.add_argument("--effect", type=float, default=defaults.staging_effect)
    parser.add_argument("--max-answers", type=int, default=defaults.staging_max_answers)
    args = parser.parse_args()
    test = SequentialTest(args.alpha, args.beta, args.effect, args.max_answers)
    started = time.perf_counter()
    print(f"test: {test}")
    print(f"promote at log-likelihood ratio {test.upper:.4f}, refuse at {test.lower:.4f}")
    rng = np.random.default_rng(args.seed)
    false_promotions(test, args.streams, rng)
    answers_needed(test, args.streams, rng)
    print(f"simulated in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
