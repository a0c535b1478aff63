"""The sequential test that ends staging: is the staged model better than production?

The evidence is people's answers about photos both models predicted. An answer where both
models were right, or both wrong, says nothing about which is better; only the discordant
ones do: ``b`` answers where the staged model was right and production wrong, ``c`` the
other way round. If the two models are equally good, each discordant answer is a fair coin
(McNemar's observation, which the promotion gate also uses).

The test is Wald's sequential probability ratio test on those coins: H0 is p = 1/2 (p the
chance that a discordant answer favours the staged model), H1 is p = 1/2 + ``effect``. After
``b`` and ``c`` the log-likelihood ratio is::

    b * log(1 + 2 * effect) + c * log(1 - 2 * effect)

It promotes at ``log(1 / alpha)`` and refuses at ``log(beta / (1 - alpha))``. Under H0 the
likelihood ratio is a martingale with mean 1 (under p < 1/2, a worse challenger, a
supermartingale), so by Ville's inequality the chance that it *ever* reaches ``1 / alpha`` is
at most ``alpha``: the review may look after every answer, hourly or whenever it likes, and the
false-promotion rate stays below ``alpha``. Wald's own upper boundary ``(1 - beta) / alpha``
bounds it only by ``alpha / (1 - beta)`` (0.0625 for the defaults), hence ``1 / alpha``; it
costs a few discordant answers more. Refusal cannot raise the false-promotion rate, so the
lower boundary is Wald's, and a budget of answers (``max_answers``) refuses what is still
undecided, so staging always ends.

A mixture (beta-binomial) e-process would need no ``effect``, but refusing would take a
second one, and a single fixed alternative gives boundaries one can check by hand (with the
defaults: 17 discordant answers in a row for the staged model promote, 7 against it refuse).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from core.settings import PromotionSettings

Decision = Literal["waiting", "promote", "refuse"]


@dataclass(frozen=True)
class Verdict:
    """What the test says after ``b`` and ``c``, with the figures to audit it."""

    decision: Decision
    reason: str
    figures: dict[str, Any]


@dataclass(frozen=True)
class SequentialTest:
    """Wald's SPRT on discordant answers, with a Ville upper boundary and a budget."""

    alpha: float = 0.05  # false promotions when the staged model is no better, any looks
    beta: float = 0.2  # missed promotions when it is better by ``effect``
    effect: float = 0.1  # H1: the staged model wins 1/2 + effect of the discordant answers
    max_answers: int = 2000  # answered shadow predictions that end an undecided staging

    def __post_init__(self) -> None:
        """Refuse parameters that leave no room between the boundaries."""
        if not (0 < self.alpha < 0.5 and 0 < self.beta < 0.5 and 0 < self.effect < 0.5):
            raise ValueError(f"alpha, beta and effect must lie in (0, 0.5): {self}")
        if self.max_answers < 1:
            raise ValueError(f"max_answers must be at least 1: {self}")

    @classmethod
    def from_settings(cls, promotion: PromotionSettings) -> SequentialTest:
        """Build the test from the ``promotion`` section."""
        return cls(alpha=promotion.staging_alpha, beta=promotion.staging_beta,
                   effect=promotion.staging_effect,
                   max_answers=promotion.staging_max_answers)  # fmt: skip

    @property
    def upper(self) -> float:
        """Log-likelihood ratio at which the staged model is promoted."""
        return math.log(1 / self.alpha)

    @property
    def lower(self) -> float:
        """Log-likelihood ratio at which the staged model is refused."""
        return math.log(self.beta / (1 - self.alpha))

    @property
    def steps(self) -> tuple[float, float]:
        """What one discordant answer adds: (staged model right, production right)."""
        return math.log(1 + 2 * self.effect), math.log(1 - 2 * self.effect)

    def log_ratio(self, b: int, c: int) -> float:
        """Log-likelihood ratio of H1 to H0 after ``b`` and ``c`` discordant answers."""
        win, loss = self.steps
        return b * win + c * loss

    def judge(self, b: int, c: int, answered: int) -> Verdict:
        """Decide from ``b``, ``c`` and the number of answers; evidence beats the budget."""
        ratio = self.log_ratio(b, c)
        decision: Decision = "waiting"
        reason = "undecided"
        if ratio >= self.upper:
            decision, reason = "promote", "the staged model is better"
        elif ratio <= self.lower:
            decision, reason = "refuse", "the staged model is not better"
        elif answered >= self.max_answers:
            decision, reason = "refuse", f"undecided after {answered} answers (the budget)"
        figures = {
            "shadow_only_right": b,
            "production_only_right": c,
            "answered": answered,
            "log_likelihood_ratio": round(ratio, 6),
            "promote_at": round(self.upper, 6),
            "refuse_at": round(self.lower, 6),
            "max_answers": self.max_answers,
            "alpha": self.alpha,
            "beta": self.beta,
            "effect": self.effect,
            "decision": decision,
            "reason": reason,
        }
        return Verdict(decision, reason, figures)
