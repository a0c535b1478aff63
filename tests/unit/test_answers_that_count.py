"""The answer that counts, defined once: each person's latest answer, as of a moment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlglot

from core.settings import Settings
from core.warehouse import open_warehouse
from core.warehouse.records import (
    ANSWERS_THAT_COUNT,
    EFFECTIVE_FEEDBACK_SQL,
    answer_params,
    effective_feedback,
)
from tests.conftest import REPO

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def answer(feedback_id: str, interaction: str, user: str, label: str, minute: int) -> dict:
    return {"feedback_id": feedback_id, "created_at": at(minute), "interaction_id": interaction,
            "user_id": user, "is_correct": label == "dog", "label": label,
            "predicted_label": "dog", "model_version": "v0", "is_admin": False}  # fmt: skip


def test_latest_per_person_and_prediction_as_of_a_moment(settings: Settings) -> None:
    warehouse = open_warehouse(settings)
    warehouse.insert("feedback", [
        answer("a", "i1", "u1", "cat", 1),
        answer("b", "i1", "u2", "cat", 2),
        answer("c", "i1", "u1", "dog", 3),  # u1 changes their mind: this one counts
        answer("d", "i2", "u1", "bird", 4),
    ])  # fmt: skip
    assert [row["feedback_id"] for row in effective_feedback(warehouse)] == ["b", "c", "d"]
    # A lower bound on the answers that count is the same as bounding the answers first.
    assert [row["feedback_id"] for row in effective_feedback(warehouse, at(3))] == ["c", "d"]
    # As of minute 2.5, u1's first answer still counted.
    sql = f"SELECT feedback_id FROM {ANSWERS_THAT_COUNT} AS f ORDER BY feedback_id"  # noqa: S608
    rows = warehouse.query(sql, answer_params(until=at(2) + dt.timedelta(seconds=30)))
    assert [row["feedback_id"] for row in rows] == ["a", "b"]


def test_the_definition_is_bigquery_sql_and_written_nowhere_else() -> None:
    sqlglot.parse_one(EFFECTIVE_FEEDBACK_SQL, read="bigquery")
    window = "PARTITION BY interaction_id, user_id"
    places = [
        path.relative_to(REPO).as_posix()
        for package in ("core", "bot", "workers", "model_server", "retraining", "monitoring", "cli")
        for path in sorted((REPO / package).rglob("*.py"))
        if window in path.read_text() or "PARTITION BY f.interaction_id" in path.read_text()
    ]
    assert places == ["core/warehouse/records.py"]
    assert Path(REPO / "core/warehouse/records.py").read_text().count(window) == 1
