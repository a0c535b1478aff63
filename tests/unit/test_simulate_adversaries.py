"""The simulator's attackers: what each kind answers, how many answers it takes, its figures."""

from __future__ import annotations

import pytest

from core.labels import VALID_LABELS
from retraining.adversaries import ADVERSARIES, Adversary, Attack, detection_auroc


def test_each_kind_is_read_from_the_command_line() -> None:
    assert Adversary.parse("noise:0.3") == Adversary("noise", 0.3)
    assert Adversary.parse("always:dog:0.2") == Adversary("always", 0.2, label="dog")
    assert Adversary.parse("swap:lion/tiger:0.2") == Adversary("swap", 0.2, pair=("lion", "tiger"))
    assert Adversary.parse("collude:0.2") == Adversary("collude", 0.2)


@pytest.mark.parametrize(
    "text", ["lie:0.2", "noise", "noise:1.5", "always:0.2", "always:unicorn:0.2",
             "swap:lion:0.2", "swap:lion/lion:0.2", "collude:dog:0.2"],
)  # fmt: skip
def test_a_malformed_adversary_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)):
        Adversary.parse(text)


def test_each_kind_answers_as_described() -> None:
    noise = Attack(Adversary("noise", 0.3), 10, seed=0)
    assert all(noise.answer(f"p{i}", "dog") != "dog" for i in range(200))
    assert len({noise.answer(f"q{i}", "dog") for i in range(200)}) == len(VALID_LABELS) - 1
    always = Attack(Adversary("always", 0.2, label="dog"), 10, seed=0)
    assert {always.answer("p", label) for label in VALID_LABELS} == {"dog"}
    swap = Attack(Adversary("swap", 0.2, pair=("lion", "tiger")), 10, seed=0)
    assert [swap.answer("p", x) for x in ("lion", "tiger", "cat")] == ["tiger", "lion", "cat"]
    collude = Attack(Adversary("collude", 0.2), 10, seed=0)
    mapped = [collude.answer("p", label) for label in VALID_LABELS]
    assert sorted(mapped) == sorted(VALID_LABELS)  # one consistent mapping of every label
    assert all(m != label for m, label in zip(mapped, VALID_LABELS, strict=True))
    assert mapped == [collude.answer("q", label) for label in VALID_LABELS]


@pytest.mark.parametrize("kind", ["noise", "collude"])
def test_the_adversaries_take_their_share_of_the_answers(kind: str) -> None:
    attack = Attack(Adversary(kind, 0.2), 10, seed=1)
    honest = [[i % 10] if i % 4 else [i % 10, (i + 1) % 10] for i in range(20_000)]
    sent = [attack.senders(users) for users in honest]
    answers = [user for users in sent for user in users]
    share = sum(user in attack.ids for user in answers) / len(answers)
    assert share == pytest.approx(0.2, abs=0.01)
    assert set(attack.ids) == set(range(10, 10 + ADVERSARIES))
    assert all(len(set(users)) == len(users) for users in sent)  # nobody answers twice
    if kind == "collude":  # colluders come in pairs, which looks like a consensus
        assert all(sum(u in attack.ids for u in users) in (0, 2) for users in sent)


def test_only_wrong_labels_an_adversary_gave_count_as_taken() -> None:
    attack = Attack(Adversary("always", 0.2, label="dog"), 10, seed=0)
    attack.answer("a", "cat")  # said dog about a cat
    attack.answer("b", "dog")  # said dog about a dog: right, however it came
    truth = {"a": "cat", "b": "dog", "c": "cat"}
    assert attack.test_labels_taken({"a": "dog", "b": "dog", "c": "dog"}, truth) == 1


def test_detection_auroc_ranks_adversaries_below_honest_people() -> None:
    honest = {"h1": 0.9, "h2": 0.8, "h3": 0.5}
    assert detection_auroc({**honest, "a1": 0.1, "a2": 0.4}, {"a1", "a2"}) == 1.0
    assert detection_auroc({**honest, "a1": 0.1, "a2": 0.8}, {"a1", "a2"}) == pytest.approx(
        (3 + 1 + 0.5) / 6
    )
    assert detection_auroc(honest, {"a1"}) is None
