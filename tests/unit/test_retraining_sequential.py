"""The sequential staging test: boundaries by hand, and its error rates on simulated answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.settings import PromotionSettings
from retraining.sequential import SequentialTest
from testkit.staging_streams import promotion_chance, simulate

DEFAULT = SequentialTest()  # alpha 0.05, beta 0.2, effect 0.1, 2000 answers


def test_the_default_boundaries_and_steps() -> None:
    assert DEFAULT.upper == pytest.approx(math.log(20))  # 2.9957
    assert DEFAULT.lower == pytest.approx(math.log(0.2 / 0.95))  # -1.5581
    assert DEFAULT.steps == pytest.approx((math.log(1.2), math.log(0.8)))  # 0.1823, -0.2231


def test_seventeen_discordant_answers_for_the_staged_model_promote_sixteen_wait() -> None:
    # 17 * log 1.2 = 3.0995 >= log 20 = 2.9957 > 16 * log 1.2 = 2.9171
    assert DEFAULT.judge(17, 0, answered=17).decision == "promote"
    assert DEFAULT.judge(16, 0, answered=400).decision == "waiting"


def test_seven_discordant_answers_for_production_refuse_six_wait() -> None:
    # 7 * log 0.8 = -1.5620 <= log(0.2 / 0.95) = -1.5581 < 6 * log 0.8 = -1.3389
    assert DEFAULT.judge(0, 7, answered=7).decision == "refuse"
    assert DEFAULT.judge(0, 6, answered=6).decision == "waiting"


def test_mixed_answers_weigh_a_loss_more_than_a_win() -> None:
    # 30 * 0.18232 - 10 * 0.22314 = 3.2382 promotes; 25 wins and 10 losses (2.3266) wait;
    # 10 wins and 16 losses (-1.7471) refuse, 10 and 15 (-1.5240) wait
    verdict = DEFAULT.judge(30, 10, answered=300)
    assert verdict.decision == "promote"
    assert verdict.figures["log_likelihood_ratio"] == pytest.approx(3.238211, abs=1e-6)
    assert DEFAULT.judge(25, 10, answered=300).decision == "waiting"
    assert DEFAULT.judge(10, 16, answered=300).decision == "refuse"
    assert DEFAULT.judge(10, 15, answered=300).decision == "waiting"


def test_an_undecided_staging_is_refused_when_the_budget_is_spent() -> None:
    assert DEFAULT.judge(5, 4, answered=1999).decision == "waiting"
    verdict = DEFAULT.judge(5, 4, answered=2000)
    assert (verdict.decision, verdict.reason) == (
        "refuse",
        "undecided after 2000 answers (the budget)",
    )
    assert DEFAULT.judge(17, 0, answered=2500).decision == "promote"  # evidence comes first


def test_the_figures_say_how_it_was_decided() -> None:
    figures = DEFAULT.judge(2, 1, answered=50).figures
    assert figures == {
        "shadow_only_right": 2,
        "production_only_right": 1,
        "answered": 50,
        "log_likelihood_ratio": pytest.approx(2 * math.log(1.2) + math.log(0.8), abs=1e-6),
        "promote_at": pytest.approx(math.log(20), abs=1e-6),
        "refuse_at": pytest.approx(math.log(0.2 / 0.95), abs=1e-6),
        "max_answers": 2000,
        "alpha": 0.05,
        "beta": 0.2,
        "effect": 0.1,
        "decision": "waiting",
        "reason": "undecided",
    }


@pytest.mark.parametrize(
    "bad", [{"alpha": 0.0}, {"beta": 0.5}, {"effect": 0.5}, {"max_answers": 0}]
)
def test_parameters_without_room_between_the_boundaries_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        SequentialTest(**bad)


def test_the_exact_false_promotion_chance_is_below_alpha_with_unlimited_looks() -> None:
    promoted, undecided = promotion_chance(DEFAULT, p=0.5, pairs=1000)
    assert promoted + undecided <= 0.05
    assert promoted == pytest.approx(0.0376, abs=1e-4)  # Ville's bound is 0.05


@pytest.mark.parametrize("discordance", [0.05, 0.2])
@pytest.mark.parametrize("p", [0.5, 0.45])  # no difference, and a worse staged model
def test_checked_after_every_answer_it_rarely_promotes_a_model_that_is_no_better(
    discordance: float, p: float
) -> None:
    outcomes = simulate(DEFAULT, p=p, discordance=discordance, streams=4000,
                        rng=np.random.default_rng(17))  # fmt: skip
    assert outcomes.share("promote") <= 0.05
    assert outcomes.share("refuse") >= 0.95  # every staging ends


def test_a_staged_model_three_points_better_is_promoted_with_high_probability() -> None:
    # production right on 85% of answers, the staged model on 88%, 10% of answers discordant:
    # the staged model wins 1/2 + 0.03 / (2 * 0.10) = 65% of the discordant ones
    outcomes = simulate(DEFAULT, p=0.65, discordance=0.10, streams=4000,
                        rng=np.random.default_rng(18))  # fmt: skip
    assert outcomes.share("promote") >= 0.9
    assert np.median(outcomes.answers) < DEFAULT.max_answers / 2


def test_a_large_budget_does_not_raise_the_false_promotion_rate() -> None:
    patient = SequentialTest(max_answers=20_000)  # looks at ~4,000 discordant answers each
    outcomes = simulate(patient, p=0.5, discordance=0.2, streams=2000,
                        rng=np.random.default_rng(19))  # fmt: skip
    assert outcomes.share("promote") <= 0.05


def test_the_promotion_settings_build_the_default_test() -> None:
    assert SequentialTest.from_settings(PromotionSettings()) == DEFAULT
    loose = PromotionSettings(staging_alpha=0.3, staging_effect=0.45, staging_max_answers=9)
    assert SequentialTest.from_settings(loose) == SequentialTest(0.3, 0.2, 0.45, 9)
