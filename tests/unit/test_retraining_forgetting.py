"""Forgetting, recorded: the matrix R, average accuracy, backward transfer and its gate."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import Settings
from retraining import forgetting
from retraining.evaluate import GateResult
from retraining.loop import retrain
from retraining.resources import open_resources
from tests.unit.test_retraining_loop_unit import send_answers


def test_transfer_is_gems_average_accuracy_and_backward_transfer() -> None:
    # Three versions learnt d1, d2, d3; their diagonal R[j][j] and the newest row R[3].
    diagonal = {"d1": 0.90, "d2": 0.80, "d3": 0.95}
    row = {"d1": 0.85, "d2": 0.82, "d3": 0.95}
    found = forgetting.transfer(row, "d3", diagonal)
    assert found.average_accuracy == pytest.approx((0.85 + 0.82 + 0.95) / 3)
    assert found.backward_transfer == pytest.approx(((0.85 - 0.90) + (0.82 - 0.80)) / 2)
    assert found.groups == 2


def test_groups_without_a_diagonal_are_left_out_and_the_first_version_has_no_bwt() -> None:
    assert forgetting.transfer({"d1": 0.9}, "d1", {}).backward_transfer is None
    found = forgetting.transfer({"d1": 0.7, "d2": 0.6, "d3": 0.9}, "d3", {"d2": 0.8})
    assert found.backward_transfer == pytest.approx(-0.2) and found.groups == 1
    # A round that held nothing new out has no group of its own: every earlier one counts.
    found = forgetting.transfer({"d1": 0.7, "d2": 0.6}, None, {"d1": 0.8, "d2": 0.8})
    assert found.backward_transfer == pytest.approx(-0.15) and found.groups == 2


def verdict(passed: bool) -> GateResult:
    return GateResult(passed, "gain +0.0500, McNemar p=0.01" if passed else "no gain", {})


@pytest.mark.parametrize(
    ("passed", "bwt", "bound", "refused"),
    [
        (True, -0.05, -0.02, True),  # forgets too much: refused however good on the test set
        (True, -0.01, -0.02, False),
        (True, None, -0.02, False),  # nothing to forget yet
        (False, 0.10, -0.02, True),  # a refusal stays a refusal, with its own reason
    ],
)
def test_the_gate_refuses_a_passing_challenger_that_forgets(
    passed: bool, bwt: float | None, bound: float, refused: bool
) -> None:
    found = forgetting.Transfer(0.9, bwt, 0 if bwt is None else 2)
    result = forgetting.refuse_forgetting(verdict(passed), found, bound)
    assert result.passed is not refused
    assert result.figures["transfer"]["backward_transfer"] == bwt
    if passed and refused:
        assert result.reason == f"backward transfer {bwt:+.4f} below {bound:+.4f} (2 versions)"
    else:
        assert result.reason == verdict(passed).reason


def test_each_round_records_its_row_and_the_bwt_against_earlier_versions(
    settings: Settings,
) -> None:
    settings = settings.model_copy(
        update={"promotion": settings.promotion.model_copy(update={"min_backward_transfer": -1.0})}
    )
    res = open_resources(settings)
    send_answers(res, 20, seed=1)
    assert retrain(res, settings).status == "promoted"
    send_answers(res, 20, seed=2)
    outcome = retrain(res, settings)
    assert outcome.challenger == "v2"
    v1, v2 = res.registry.get("v1"), res.registry.get("v2")
    # Each round held out new photos: test version t1 is what v1 learnt, t2 what v2 learnt.
    assert set(v2.metrics["retention"]) == {"t1", "t2"} and v2.metrics["retention_group"] == "t2"
    expected = v2.metrics["retention"]["t1"] - v1.metrics["retention"]["t1"]
    assert v2.metrics["backward_transfer"] == pytest.approx(expected)
    assert v2.metrics["average_accuracy"] == pytest.approx(
        np.mean(list(v2.metrics["retention"].values()))
    )
    rows = res.warehouse.query(
        "SELECT backward_transfer, average_accuracy FROM model_versions "
        "WHERE version = 'v2' AND status = 'created'"
    )
    assert rows[0]["backward_transfer"] == pytest.approx(expected)
    assert forgetting.diagonal(res.registry) == {
        "t1": v1.metrics["retention"]["t1"],
        "t2": v2.metrics["retention"]["t2"],
    }
