import datetime as dt
from pathlib import Path

import duckdb
import pytest

from core.errors import InvalidLabel, UnknownInteraction
from core.warehouse import TABLES
from core.warehouse.duckdb_backend import DuckDbWarehouse
from core.warehouse.records import (
    effective_feedback,
    forget_user,
    get_interaction,
    interaction_row,
    record_event,
    record_feedback,
    record_interaction,
)

TOP3 = [("dog", 0.7), ("cat", 0.2), ("other", 0.1)]


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDbWarehouse:
    warehouse = DuckDbWarehouse(tmp_path / "warehouse.duckdb")
    warehouse.create_tables()
    return warehouse


def log(warehouse: DuckDbWarehouse, interaction_id: str, user: str = "telegram:1") -> bool:
    return record_interaction(warehouse, interaction_row(
        interaction_id=interaction_id, channel="telegram", image_id="a" * 64,
        model_version="v0", top3=TOP3, probabilities=[0.0] * 16, user_id=user, latency_ms=12.5,
    ))  # fmt: skip


def test_every_table_exists(warehouse: DuckDbWarehouse) -> None:
    for name in TABLES:
        assert warehouse.query(f"SELECT COUNT(*) AS n FROM {name}") == [{"n": 0}]  # noqa: S608
    warehouse.create_tables()  # idempotent


def test_interaction_is_logged_once(warehouse: DuckDbWarehouse) -> None:
    assert log(warehouse, "i1") is True
    assert log(warehouse, "i1") is False  # a redelivered task writes nothing twice
    row = get_interaction(warehouse, "i1")
    assert row is not None
    assert row["predicted_label"] == "dog"
    assert row["predicted_probability"] == pytest.approx(0.7)
    assert row["created_at"].tzinfo is not None
    assert get_interaction(warehouse, "nope") is None


def test_later_feedback_supersedes_but_nothing_is_lost(warehouse: DuckDbWarehouse) -> None:
    log(warehouse, "i1")
    record_feedback(warehouse, interaction_id="i1", user_id="telegram:1", correct=True)
    record_feedback(warehouse, interaction_id="i1", user_id="telegram:1", correct=False,
                    label="cat")  # fmt: skip
    record_feedback(warehouse, interaction_id="i1", user_id="telegram:2", correct=True)
    effective = effective_feedback(warehouse)
    assert [(r["user_id"], r["label"], r["is_correct"]) for r in effective] == [
        ("telegram:1", "cat", False),
        ("telegram:2", "dog", True),
    ]
    assert warehouse.query("SELECT COUNT(*) AS n FROM feedback") == [{"n": 3}]


def test_feedback_errors(warehouse: DuckDbWarehouse) -> None:
    with pytest.raises(UnknownInteraction) as unknown:
        record_feedback(warehouse, interaction_id="missing", user_id="u", correct=True)
    assert unknown.value.user_message == "That prediction is unknown or has expired."
    log(warehouse, "i1")
    with pytest.raises(InvalidLabel) as invalid:
        record_feedback(warehouse, interaction_id="i1", user_id="u", correct=False, label="unicorn")
    assert "16" in invalid.value.user_message
    assert warehouse.query("SELECT COUNT(*) AS n FROM feedback") == [{"n": 0}]


def test_forget_user_removes_only_their_rows(warehouse: DuckDbWarehouse) -> None:
    log(warehouse, "mine", user="telegram:1")
    log(warehouse, "theirs", user="telegram:2")
    record_feedback(warehouse, interaction_id="mine", user_id="telegram:1", correct=True)
    counts = forget_user(warehouse, "telegram:1")
    assert counts == {"feedback": 1, "interactions": 1, "images": 0}
    assert get_interaction(warehouse, "theirs") is not None


def test_parameters_are_bound_not_spliced(warehouse: DuckDbWarehouse) -> None:
    log(warehouse, "i1")
    hostile = "x' OR '1'='1"
    assert warehouse.query("SELECT * FROM interactions WHERE user_id = @u", {"u": hostile}) == []


def test_in_unnest_of_a_list_parameter_keeps_bigquery_meaning(warehouse: DuckDbWarehouse) -> None:
    for interaction_id in ("i1", "i2", "i3"):
        log(warehouse, interaction_id)

    def ids(condition: str, listed: list[str] | None) -> list[str]:
        sql = f"SELECT interaction_id FROM interactions WHERE {condition} ORDER BY 1"  # noqa: S608
        return [row["interaction_id"] for row in warehouse.query(sql, {"ids": listed})]

    assert ids("interaction_id IN UNNEST(@ids)", ["i3", "i1", "nobody"]) == ["i1", "i3"]
    assert ids("interaction_id IN UNNEST(@ids)", []) == []
    assert ids("interaction_id IN UNNEST(@ids)", None) == []
    assert ids("interaction_id NOT IN UNNEST(@ids)", ["i2"]) == ["i1", "i3"]
    assert ids("interaction_id NOT IN UNNEST(@ids)", []) == ["i1", "i2", "i3"]
    assert ids("interaction_id IN ('i2') OR interaction_id IN UNNEST(@ids)", ["i1"]) == ["i1", "i2"]


def test_bigquery_functions_run_on_duckdb(warehouse: DuckDbWarehouse) -> None:
    record_event(warehouse, "check", rule="none", fired=False, details={"new_labels": 3})
    rows = warehouse.query(
        "SELECT kind, COUNTIF(fired) AS fired, "
        "TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), MAX(created_at), SECOND) AS age "
        "FROM retrain_events WHERE created_at > TIMESTAMP_SUB(@now, INTERVAL 1 HOUR) "
        "GROUP BY kind",
        {"now": dt.datetime.now(dt.UTC)},
    )
    assert rows[0]["kind"] == "check"
    assert rows[0]["fired"] == 0
    assert 0 <= rows[0]["age"] < 60


def test_threads_racing_on_one_key_write_it_once(warehouse: DuckDbWarehouse) -> None:
    import threading

    results: list[bool] = []
    barrier = threading.Barrier(6)

    def write() -> None:
        barrier.wait()
        results.append(log(warehouse, "same"))

    threads = [threading.Thread(target=write) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 5 + [True]
    assert warehouse.query("SELECT COUNT(*) AS n FROM interactions") == [{"n": 1}]


def test_many_rows_in_one_insert_and_repeated_keys(warehouse: DuckDbWarehouse) -> None:
    rows = [
        {"point_id": f"p{i % 300}", "created_at": dt.datetime.now(dt.UTC), "metric": "m",
         "value": float(i)}
        for i in range(600)
    ]  # fmt: skip
    assert warehouse.insert("metric_points", rows) == 300
    assert warehouse.insert("metric_points", rows[:10]) == 0


def test_rows_inserted_together_read_back_as_written(warehouse: DuckDbWarehouse) -> None:
    created = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    rows = [
        interaction_row(interaction_id=f"i{n}", channel="api", image_id=f"img{n}",
                        model_version="v0", top3=TOP3, latency_ms=None if n else 1.5,
                        user_id=None if n == 2 else f"api:{n}", created_at=created)
        for n in range(3)
    ]  # fmt: skip
    assert warehouse.insert("interactions", rows) == 3
    stored = warehouse.query("SELECT * FROM interactions ORDER BY interaction_id")
    assert stored == [{**row, "created_at": stored[0]["created_at"]} for row in rows]
    assert all(row["created_at"] == created for row in stored)
    again = [*rows[1:], {**rows[0], "interaction_id": "i9"}]  # two held, one new
    assert warehouse.insert("interactions", again) == 1
    assert warehouse.query("SELECT COUNT(*) AS n FROM interactions") == [{"n": 4}]
    keys = [{"key_id": "k1", "event": e, "created_at": created} for e in ("issued", "revoked")]
    assert warehouse.insert("api_keys", keys) == 2  # a composite key: INSERT OR IGNORE
    assert warehouse.insert("api_keys", [*keys, {**keys[0], "key_id": "k2"}]) == 1


def test_a_file_from_before_a_new_column_gains_it_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old = DuckDbWarehouse(path)
    old.create_tables()
    assert log(old, "i-before")
    old.close()
    with duckdb.connect(str(path)) as connection:  # the file as an earlier release left it
        connection.execute("ALTER TABLE interactions DROP COLUMN answer_json")
    upgraded = DuckDbWarehouse(path)
    upgraded.create_tables()
    row = interaction_row(interaction_id="i-after", channel="api", image_id="b" * 64,
                          model_version="v1", top3=TOP3, answer=["dog", "cat"])  # fmt: skip
    assert record_interaction(upgraded, row)
    before, after = (get_interaction(upgraded, i) for i in ("i-before", "i-after"))
    assert before is not None and before["answer_json"] is None
    assert after is not None and after["answer_json"] == '["dog", "cat"]'
