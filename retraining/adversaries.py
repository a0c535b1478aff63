"""Simulated attackers: people who answer wrongly on purpose, and how much harm they did.

``simulate --adversary KIND:SHARE`` adds ``ADVERSARIES`` ids that answer about ``SHARE`` of
the answers, each id behaving like a separate person:

* ``noise``: a random wrong label, drawn afresh every time;
* ``always:LABEL``: LABEL, whatever the photo shows;
* ``swap:A/B``: B for an A, A for a B, the truth otherwise (lion<->tiger style);
* ``collude``: one consistent wrong mapping of every label, shared by all the ids; an
  attacked photo gets two colluders' answers (a "consensus"), so that a share ``SHARE`` of
  all answers still comes from them.

The figures: how many held-out test photos carry a wrong label an adversary gave, and how
well the reliability estimates separate the adversaries from the honest people (AUROC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.labels import VALID_LABELS

ADVERSARIES = 5
KINDS = ("noise", "always", "swap", "collude")


@dataclass(frozen=True)
class Adversary:
    """One kind of attack and the share of answers it takes."""

    kind: str
    share: float
    label: str | None = None  # always:LABEL
    pair: tuple[str, str] | None = None  # swap:A/B

    @classmethod
    def parse(cls, text: str) -> Adversary:
        """Read ``KIND:SHARE`` (``always:LABEL:SHARE``, ``swap:A/B:SHARE``); ValueError if bad."""
        head, _, share_text = text.rpartition(":")
        kind, _, argument = head.partition(":")
        try:
            share = float(share_text)
        except ValueError:
            raise ValueError(f"{text!r}: the share after the last ':' is not a number") from None
        if kind not in KINDS or not 0 < share < 1:
            raise ValueError(f"{text!r}: need KIND:SHARE with KIND in {KINDS}, 0 < SHARE < 1")
        if kind == "always":
            if argument not in VALID_LABELS:
                raise ValueError(f"{text!r}: always needs a label, as in always:dog:0.2")
            return cls(kind, share, label=argument)
        if kind == "swap":
            first, _, second = argument.partition("/")
            if {first, second} - set(VALID_LABELS) or first == second:
                raise ValueError(f"{text!r}: swap needs two labels, as in swap:lion/tiger:0.2")
            return cls(kind, share, pair=(first, second))
        if argument:
            raise ValueError(f"{text!r}: {kind} takes no argument")
        return cls(kind, share)

    @property
    def attack_rate(self) -> float:
        """Chance that an answer slot (for collude: a photo) is taken by the adversaries.

        Colluders answer an attacked photo twice where one honest person would have answered
        and keep the quarter of second opinions: 2p / (2p + 1.25 - p) = share.
        """
        if self.kind == "collude":
            return 1.25 * self.share / (2 - self.share)
        return self.share


class Attack:
    """The adversaries' ids, their answers, and what they answered about each photo."""

    def __init__(self, adversary: Adversary, first_id: int, seed: int) -> None:
        self.adversary = adversary
        self.ids = list(range(first_id, first_id + ADVERSARIES))
        self.rng = np.random.default_rng([seed, 7919])
        shift = 1 + int(self.rng.integers(len(VALID_LABELS) - 1))
        self.mapping = {
            label: VALID_LABELS[(i + shift) % len(VALID_LABELS)]
            for i, label in enumerate(VALID_LABELS)
        }
        self.given: dict[str, set[str]] = {}

    def senders(self, honest: list[int]) -> list[int]:
        """Replace (or, colluding, join) the honest senders of one photo."""
        if self.adversary.kind == "collude":
            if self.rng.random() >= self.adversary.attack_rate:
                return honest
            pair = self.rng.choice(self.ids, size=2, replace=False)
            return [int(pair[0]), int(pair[1]), *honest[1:]]
        users: list[int] = []
        for user in honest:
            if self.rng.random() < self.adversary.attack_rate:
                free = [i for i in self.ids if i not in users]
                users.append(int(free[int(self.rng.integers(len(free)))]))
            else:
                users.append(user)
        return users

    def answer(self, image_id: str, truth: str) -> str:
        """Return an adversary's answer about a photo showing ``truth``; remember it."""
        kind = self.adversary.kind
        if kind == "noise":
            others = [name for name in VALID_LABELS if name != truth]
            label = others[int(self.rng.integers(len(others)))]
        elif kind == "always":
            label = str(self.adversary.label)
        elif kind == "swap":
            first, second = self.adversary.pair or (truth, truth)
            label = {first: second, second: first}.get(truth, truth)
        else:
            label = self.mapping[truth]
        self.given.setdefault(image_id, set()).add(label)
        return label

    def test_labels_taken(self, test_labels: dict[str, str], truth: dict[str, str]) -> int:
        """Count test photos whose (wrong) label is one an adversary gave about them."""
        return sum(
            label != truth.get(image_id) and label in self.given.get(image_id, set())
            for image_id, label in test_labels.items()
        )


def detection_auroc(reliability: dict[str, float], adversaries: set[str]) -> float | None:
    """Return P(an adversary's reliability < an honest person's), ties counting half."""
    bad = np.asarray([v for k, v in reliability.items() if k in adversaries])
    good = np.asarray([v for k, v in reliability.items() if k not in adversaries])
    if not bad.size or not good.size:
        return None
    below = (bad[:, None] < good[None, :]).sum() + 0.5 * (bad[:, None] == good[None, :]).sum()
    return float(below / (bad.size * good.size))
