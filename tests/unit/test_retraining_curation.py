"""Curation: label trust from people's records, the score's parts, and dropped samples."""

from __future__ import annotations

import numpy as np
import pytest

from core.labels import LABEL_INDEX
from core.settings import CurationSettings
from retraining.curation import (
    Answer,
    CurationConfig,
    Labelled,
    resolve,
    select,
    uncertainty,
    user_records,
)

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


def test_agreement_between_users_raises_trust() -> None:
    history = []  # u1 and u2 disagreed with others half the time: their word alone is doubted
    for n in range(8):
        history += [Answer(f"h{n}", "u1", "dog" if n % 2 else "cat"), Answer(f"h{n}", "x", "cat")]
        history += [Answer(f"k{n}", "u2", "dog" if n % 2 else "cat"), Answer(f"k{n}", "y", "cat")]
    alone = resolve([*history, Answer("a", "u1", "cat")], CONFIG)[-1]
    agreed = resolve([*history, Answer("b", "u1", "cat"), Answer("b", "u2", "cat")], CONFIG)[-1]
    assert agreed.source == "consensus"
    assert agreed.trust > alone.trust


def test_user_record_counts_agreement_with_other_people_on_the_same_photos() -> None:
    answers = []
    for n in range(6):  # u3 contradicts two agreeing users six times
        answers += [Answer(f"p{n}", "u1", "cat"), Answer(f"p{n}", "u2", "cat")]
        answers.append(Answer(f"p{n}", "u3", "dog"))
    answers.append(Answer("q", "u1", "cat"))
    answers += [Answer("q", "u4", "cat"), Answer("q", "u5", "cat")]
    records = user_records(answers)
    assert records["u3"] == pytest.approx(3 / 10)  # agreed with nobody on 6 photos
    assert records["u1"] == pytest.approx((6 * 0.5 + 1 + 3) / (7 + 4))  # half, then all
    assert records["u4"] == pytest.approx((1 + 3) / (1 + 4))
    assert user_records([Answer("z", "new", "cat")])["new"] == 0.75  # the prior


def test_contradicting_a_confident_model_counts_less_from_a_poor_record() -> None:
    history = []
    for n in range(12):
        history += [Answer(f"h{n}", "good", "cat"), Answer(f"h{n}", "good2", "cat")]
        history += [Answer(f"b{n}", "bad", "bird"), Answer(f"b{n}", "good2", "cat"),
                    Answer(f"b{n}", "good3", "cat")]  # fmt: skip
    bad = resolve([*history, Answer("x", "bad", "cat", probabilities=CONFIDENT_DOG)], CONFIG)
    good = resolve([*history, Answer("x", "good", "cat", probabilities=CONFIDENT_DOG)], CONFIG)
    bad_trust = next(i.trust for i in bad if i.image_id == "x")
    good_trust = next(i.trust for i in good if i.image_id == "x")
    assert bad_trust == 0.0 and good_trust == 1.0


def test_uncertainty_is_one_minus_margin() -> None:
    assert uncertainty(CONFIDENT_DOG) == pytest.approx(1 - (0.95 - 0.05 / 15))
    assert uncertainty(None) == 0.5


def labelled(image_id: str, label: str, trust: float = 1.0) -> Labelled:
    return Labelled(image_id, label, "feedback", trust, 1, None)


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
