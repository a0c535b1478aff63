"""What people see of trust: the week's answers trusted, down-weighted and refused; who lies."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from cli.main import main
from core.labels import LABEL_INDEX, VALID_LABELS
from core.settings import CurationSettings, Settings
from core.trust import WeekCounts, trust_report
from core.warehouse import open_warehouse
from core.warehouse.records import new_id, utcnow

NOW = utcnow()
HONEST = ("telegram:1", "telegram:2", "key:k3")


def confident(label: str) -> list[float]:
    return [0.95 if i == LABEL_INDEX[label] else 0.05 / 15 for i in range(16)]


Photos = list[tuple[str, list[tuple[str, str]]]]  # (truth, [(who, answer)])


def answered(settings: Settings, photos: Photos, when: Any) -> None:
    """Write each photo's interaction (the model confident of the truth) and its answers."""
    interactions, feedback = [], []
    for truth, answers in photos:
        interaction = {"interaction_id": new_id(), "created_at": when, "channel": "api",
                       "image_id": new_id(), "model_version": "v0", "predicted_label": truth,
                       "user_id": answers[0][0],
                       "probabilities_json": json.dumps(confident(truth))}  # fmt: skip
        interactions.append(interaction)
        feedback += [{"feedback_id": new_id(), "created_at": when,
                      "interaction_id": interaction["interaction_id"], "user_id": who,
                      "is_correct": label == truth, "label": label, "predicted_label": truth,
                      "model_version": "v0", "is_admin": who == "telegram:admin"}
                     for who, label in answers]  # fmt: skip
    warehouse = open_warehouse(settings)
    warehouse.insert("interactions", interactions)
    warehouse.insert("feedback", feedback)


def world(settings: Settings) -> None:
    old = NOW - dt.timedelta(days=10)
    history = [(VALID_LABELS[n % 16], [(who, VALID_LABELS[n % 16]) for who in HONEST])
               for n in range(40)]  # fmt: skip
    answered(settings, history, old)  # three people who agree with each other and the model
    liar = [(VALID_LABELS[n % 16], [("key:liar", "dog"), ("telegram:1", VALID_LABELS[n % 16])])
            for n in range(1, 16)]  # fmt: skip
    answered(settings, liar, NOW - dt.timedelta(days=1))
    answered(settings, [("cat", [("telegram:admin", "cat")])], NOW)


def test_the_week_counts_trusted_and_refused_answers_and_names_the_liar(
    settings: Settings,
) -> None:
    world(settings)
    report = trust_report(open_warehouse(settings), CurationSettings(), NOW, limit=3)
    # this week: the liar's 15 answers refused, telegram:1's 15 and the admin's 1 trusted
    assert report.week == WeekCounts(trusted=16, down_weighted=0, refused=15)
    who, reliability, count = report.least_reliable[0]
    assert (who, count) == ("key:liar", 15)
    assert reliability < 0.2
    assert min(r for _, r, _ in report.least_reliable[1:]) > 0.8


def test_nothing_answered_shows_zeros(settings: Settings) -> None:
    report = trust_report(open_warehouse(settings), CurationSettings(), NOW)
    assert report.week == WeekCounts(0, 0, 0) and report.least_reliable == []


def test_creature_vis_people_lists_the_least_reliable(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    world(settings)
    assert main(["people", "--least-reliable", "2", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["week"] == {"trusted": 16, "down_weighted": 0, "refused": 15}
    assert found["least_reliable"][0]["user_id"] == "key:liar"
    assert len(found["least_reliable"]) == 2
    assert main(["people"]) == 0
    text = capsys.readouterr().out
    assert "This week's answers: 16 trusted, 0 down-weighted, 15 refused" in text
    assert "  key:liar: " in text
