"""Curation: label trust from the annotator model, the score's parts, caps, dropped samples."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.labels import LABEL_INDEX
from core.settings import CurationSettings
from core.trust import Answer, people_of, reliabilities
from retraining.consensus import resolve
from retraining.curation import CurationConfig, Labelled, select, uncertainty

CONFIG = CurationConfig.from_settings(CurationSettings())

CONFIDENT_DOG = tuple(0.95 if i == LABEL_INDEX["dog"] else 0.05 / 15 for i in range(16))


def test_admin_answer_is_trusted_over_users() -> None:
    answers = [
        Answer("img", "u1", "cat"),
        Answer("img", "u2", "cat"),
        Answer("img", "admin", "dog", is_admin=True),
    ]
    (item,) = resolve(answers, CONFIG)
    assert (item.label, item.source, item.trust) == ("dog", "admin", 1.0)


def confident(label: str) -> tuple[float, ...]:
    return tuple(0.95 if i == LABEL_INDEX[label] else 0.05 / 15 for i in range(16))


def history(*people: str, photos: int = 30) -> list[Answer]:
    """People who answered alike, and like a confident model, on many photos."""
    labels = ["cat", "dog", "bird", "horse", "fish"]
    return [Answer(f"h{n}", who, labels[n % 5], probabilities=confident(labels[n % 5]))
            for n in range(photos) for who in people]  # fmt: skip


def test_two_established_people_agreeing_make_a_trusted_label() -> None:
    answers = [*history("u1", "u2"), Answer("x", "u1", "zebra"), Answer("x", "u2", "zebra")]
    item = resolve(answers, CONFIG)[-1]
    assert (item.label, item.source, item.people) == ("zebra", "trusted", ("u1", "u2"))
    assert item.trust > CurationSettings().min_test_trust
    assert reliabilities(answers)["u1"] > CONFIG.established_reliability


def test_newcomers_agreeing_are_only_a_consensus_and_one_alone_is_doubted() -> None:
    answers = [*history("u1", "u2"), Answer("x", "new1", "zebra"), Answer("x", "new2", "zebra"),
               Answer("y", "new3", "zebra")]  # fmt: skip
    pair, alone = resolve(answers, CONFIG)[-2:]
    assert (pair.label, pair.source) == ("zebra", "consensus")
    assert (alone.label, alone.source) == ("zebra", "feedback")
    assert alone.trust < pair.trust < 0.9
    assert alone.trust < 0.5


def test_a_newcomer_contradicting_a_confident_model_loses_to_it() -> None:
    answers = [*history("u1"), Answer("x", "new", "cat", probabilities=CONFIDENT_DOG)]
    item = resolve(answers, CONFIG)[-1]
    assert (item.label, item.source, item.people) == ("dog", "model", ())
    (chosen,) = select([item], np.ones((1, 8)), np.zeros((0, 8)), {}, CONFIG)
    assert (chosen.selected, chosen.reason) == (False, "no person gave the label")


def test_an_anonymous_session_never_becomes_established() -> None:
    answers = [*history("u1", "web:s1"), Answer("x", "u1", "zebra"),
               Answer("x", "web:s1", "zebra")]  # fmt: skip
    item = resolve(answers, CONFIG)[-1]
    assert item.source == "consensus"
    assert reliabilities(answers)["web:s1"] < reliabilities(answers)["u1"]


def test_uncertainty_is_one_minus_margin() -> None:
    assert uncertainty(CONFIDENT_DOG) == pytest.approx(1 - (0.95 - 0.05 / 15))
    assert uncertainty(None) == 0.5


def labelled(
    image_id: str, label: str, trust: float = 1.0, people: tuple[str, ...] = ("u1",)
) -> Labelled:
    return Labelled(image_id, label, "feedback", trust, 1, None, people)


def test_near_duplicates_and_untrusted_labels_are_dropped_with_reasons() -> None:
    rng = np.random.default_rng(0)
    held = np.abs(rng.normal(size=(5, 32)))
    fresh = np.abs(rng.normal(size=(3, 32)))
    embeddings = np.stack([held[0] * 1.001, fresh[0], fresh[0] + 1e-4, fresh[1]])
    items = [labelled("dup-held", "cat"), labelled("new", "cat"),
             labelled("dup-new", "cat"), labelled("doubt", "cat", trust=0.1)]  # fmt: skip
    result = select(items, embeddings, held, {"cat": 5}, CONFIG)
    assert [r.selected for r in result] == [False, True, False, False]
    assert result[0].reason.startswith("near duplicate")
    assert result[2].reason.startswith("near duplicate")
    assert result[3].reason.startswith("trust 0.10")


def test_score_prefers_novel_rare_uncertain_photos() -> None:
    rng = np.random.default_rng(1)
    held = np.abs(rng.normal(size=(20, 32)))
    close = held[0] + np.abs(rng.normal(scale=0.3, size=32))
    far = np.zeros(32)
    far[:3] = 5.0
    items = [labelled("common-close", "dog"), labelled("rare-far", "giraffe")]
    common, rare = select(items, np.stack([close, far]), held, {"dog": 20}, CONFIG)
    assert rare.parts["novelty"] > common.parts["novelty"]
    assert rare.parts["balance"] == 1.0 and common.parts["balance"] == 0.0
    assert rare.score > common.score


def test_a_version_takes_at_most_its_cap_from_one_person_and_from_all_anonymous() -> None:
    config = replace(CONFIG, max_per_person=2, max_anonymous=3)
    rng = np.random.default_rng(2)
    items = [labelled(f"a{n}", "dog", people=("burst",)) for n in range(4)]
    items += [labelled("shared", "dog", people=("burst", "u2"))]  # u2 still has room
    items += [labelled(f"w{n}", "cat", people=(f"web:{n}",)) for n in range(5)]
    result = select(items, np.abs(rng.normal(size=(10, 64))), np.zeros((0, 64)), {}, config)
    assert [r.selected for r in result] == [True, True, False, False, True,
                                            True, True, True, False, False]  # fmt: skip
    assert result[2].reason == "person cap (burst)"
    assert result[8].reason == "person cap (anonymous)"


def test_a_swapper_right_on_everything_else_vouches_for_neither_swapped_label() -> None:
    # Four people answer 300 photos of fifteen labels; "swap" is right on all of them but
    # calls every lion a tiger and every tiger a lion.
    labels = ["cat", "dog", "bird", "horse", "fish", "lion", "tiger", "zebra", "deer", "bear",
              "elephant", "giraffe", "other", "rabbit", "monkey"]  # fmt: skip
    swap = {"lion": "tiger", "tiger": "lion"}
    answers = [
        Answer(f"p{n}", who, swap.get(truth, truth) if who == "swap" else truth)
        for n in range(300)
        for truth in [labels[n % len(labels)]]
        for who in ("u1", "u2", "u3", "swap")
    ]
    people = people_of(answers)
    established = people.established(CONFIG)
    assert reliabilities(answers)["swap"] > CONFIG.established_reliability  # 13 of 15 right
    assert {("swap", LABEL_INDEX[name]) in established for name in ("lion", "tiger")} == {False}
    assert ("swap", LABEL_INDEX["cat"]) in established
    assert all(("u1", LABEL_INDEX[name]) in established for name in labels)
    # A rare label is not held against an honest person: snake was never answered.
    assert ("u1", LABEL_INDEX["snake"]) in established
    # The swapper and one honest person call a new tiger photo a lion: not trusted.
    lie = [*answers, Answer("new", "swap", "lion"), Answer("new", "u1", "lion")]
    assert resolve(lie, CONFIG)[-1].source != "trusted"
    truth = [*answers, Answer("new", "u2", "lion"), Answer("new", "u1", "lion")]
    assert resolve(truth, CONFIG)[-1].source == "trusted"
