"""How simulate cuts a stream into rounds (spread, or a burst) and what a round reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.model.calibration import Calibration
from retraining.estimates import check_figures, served_figures
from retraining.simulate import Burst, Photo, Simulation, round_photos, rounds_by_answers

STREAM = [Photo(Path(f"{label}/{i}.jpg"), label, f"{label}{i}")
          for label in ("dog", "cat", "deer") for i in range(40)]  # fmt: skip


def labels(photos: list[Photo]) -> set[str]:
    return {p.label for p in photos}


def test_without_a_burst_every_label_is_spread_over_the_rounds() -> None:
    rounds = round_photos(STREAM, 4, seed=0)
    assert [len(r) for r in rounds] == [30, 30, 30, 30]
    assert all(labels(r) == {"dog", "cat", "deer"} for r in rounds)
    assert sorted(p.image_id for r in rounds for p in r) == sorted(p.image_id for p in STREAM)
    assert round_photos(STREAM, 4, seed=0) == rounds


def test_a_burst_sends_its_label_in_one_round_only() -> None:
    rounds = round_photos(STREAM, 4, seed=0, burst=Burst("deer", 2))
    assert [sum(p.label == "deer" for p in r) for r in rounds] == [0, 40, 0, 0]
    assert [len(r) for r in rounds] == [20, 60, 20, 20]
    assert labels(rounds[0]) == labels(rounds[3]) == {"dog", "cat"}
    deer = [i for i, p in enumerate(rounds[1]) if p.label == "deer"]
    assert deer != list(range(20, 60))  # mixed in among the others, not sent after them


def test_a_round_reports_both_estimates_beside_the_true_accuracy() -> None:
    served = np.full((4, 16), 0.01)
    served[:, 0] = [0.85, 0.6, 0.9, 0.55]  # label 0 is the top label of every photo
    truth = np.array([0, 0, 3, 0])
    figures = served_figures(served, truth, Calibration(1.2, None, 0.7, 0.9, 80, "test-1"))
    assert figures["answered_accuracy"] == 0.75
    found = figures["estimated_accuracy"]
    assert found["calibrated"] is True and found["threshold"] == 0.7
    assert found["cbpe"]["value"] == pytest.approx(0.725)
    assert found["atc"]["value"] == 0.5
    raw = served_figures(served, truth, None)["estimated_accuracy"]
    assert raw["calibrated"] is False and raw["atc"] is None


def test_a_round_reports_what_its_check_decided() -> None:
    event = {
        "fired": True,
        "rule": "new_labels",
        "details": {
            "holding": ["new_labels", "estimated_accuracy"],
            "measured": {"estimate": {"predictions": 500, "cbpe": {"value": 0.71234567},
                                      "atc": None}},
        },
    }  # fmt: skip
    assert check_figures(event) == {
        "fired": True,
        "rule": "new_labels",
        "holding": ["new_labels", "estimated_accuracy"],
        "estimate": {"predictions": 500, "cbpe": 0.7123, "atc": None},
    }
    assert check_figures(None) is None


def test_rounds_sized_by_answers_hold_that_many_answers_each() -> None:
    simulation = Simulation(None, [], noise=0.0, seed=3)  # type: ignore[arg-type]  (no world)
    rounds = rounds_by_answers(simulation, STREAM, 25, seed=3, limit=None)
    answers = [sum(len(simulation.senders(p)) for p in r) for r in rounds]
    assert all(25 <= count <= 26 for count in answers)  # a photo brings one or two answers
    sent = [p.image_id for r in rounds for p in r]
    assert len(sent) == len(set(sent)) and len(STREAM) - len(sent) < 25  # the rest: too few
    assert rounds_by_answers(simulation, STREAM, 25, seed=3, limit=2) == rounds[:2]
    assert sum(answers) / len(sent) == pytest.approx(1.25, abs=0.15)  # a quarter ask twice
