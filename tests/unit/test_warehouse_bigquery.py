"""The BigQuery adapter, checked by the exact requests it gives the client (no cloud here)."""

import datetime as dt
from pathlib import Path
from unittest import mock

import pytest
from google.cloud import bigquery

from core.warehouse import TABLES
from core.warehouse.bigquery_backend import (
    INSERT_CHUNK,
    KEY_LOOKBACK,
    BigQueryWarehouse,
    bigquery_table,
)
from core.warehouse.records import EFFECTIVE_FEEDBACK_SQL
from tests.fakes.gcp_iam import Account, Cloud

pytestmark = pytest.mark.gcp


@pytest.fixture
def client() -> mock.MagicMock:
    client = mock.create_autospec(bigquery.Client, instance=True)
    client.project = "demo-project"
    return client


def test_table_definitions_are_day_partitioned_and_clustered() -> None:
    feedback = bigquery_table("demo-project", "creature_vis", TABLES["feedback"])
    assert feedback.project == "demo-project"
    assert feedback.dataset_id == "creature_vis"
    assert feedback.time_partitioning.type_ == "DAY"
    assert feedback.time_partitioning.field == "created_at"
    assert [(f.name, f.field_type, f.mode) for f in feedback.schema] == [
        (c.name, c.type, c.mode) for c in TABLES["feedback"].columns
    ]
    interactions = bigquery_table("demo-project", "creature_vis", TABLES["interactions"])
    assert interactions.clustering_fields == ["model_version"]


def test_insert_is_one_dml_statement_that_skips_held_keys(client: mock.MagicMock) -> None:
    """Rows go in by INSERT (no streaming buffer, so /forget can delete them at once)."""
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    row = {"feedback_id": "f1", "created_at": when, "interaction_id": "i1", "user_id": "u",
           "is_correct": True, "label": "dog"}  # fmt: skip
    client.query.return_value.num_dml_affected_rows = 1
    written = BigQueryWarehouse(client, "creature_vis").insert("feedback", [row, dict(row)])
    assert written == 1
    client.insert_rows_json.assert_not_called()
    client.query.assert_called_once()
    assert client.query.call_args.args[0] == (
        "INSERT INTO feedback (feedback_id, created_at, interaction_id, user_id, is_correct, "
        "label, predicted_label, model_version, channel, is_admin) SELECT r.feedback_id, "
        "r.created_at, r.interaction_id, r.user_id, r.is_correct, r.label, r.predicted_label, "
        "r.model_version, r.channel, r.is_admin FROM UNNEST(@rows) AS r WHERE NOT EXISTS "
        "(SELECT 1 FROM feedback AS t WHERE t.feedback_id = r.feedback_id "
        "AND t.created_at >= @since)"
    )
    config = client.query.call_args.kwargs["job_config"]
    assert config.default_dataset.dataset_id == "creature_vis"
    rows, since = (p.to_api_repr() for p in config.query_parameters)
    assert since == {"name": "since", "parameterType": {"type": "TIMESTAMP"},
                     "parameterValue": {"value": "2026-01-01 03:04:05+00:00"}}  # fmt: skip
    assert rows["name"] == "rows"
    assert rows["parameterType"]["arrayType"]["structTypes"] == [
        {"name": c.name, "type": {"type": c.type}} for c in TABLES["feedback"].columns
    ]  # NULL columns keep their type
    values = {"feedback_id": "f1", "created_at": "2026-01-02 03:04:05+00:00",
              "interaction_id": "i1", "user_id": "u", "is_correct": "true", "label": "dog",
              "predicted_label": None, "model_version": None, "channel": None,
              "is_admin": None}  # fmt: skip
    assert rows["parameterValue"]["arrayValues"] == [  # the repeated key is sent once
        {"structValues": {name: {"value": value} for name, value in values.items()}}
    ]
    assert client.query.call_args.kwargs["location"] == "EU"


def test_insert_sends_large_batches_in_chunks_and_counts_what_each_wrote(
    client: mock.MagicMock,
) -> None:
    when = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    rows = [{"point_id": f"p{i}", "created_at": when + dt.timedelta(seconds=i)}
            for i in range(INSERT_CHUNK + 3)]  # fmt: skip
    client.query.return_value.num_dml_affected_rows = 2  # each statement: 2 keys were new
    assert BigQueryWarehouse(client, "d").insert("metric_points", rows) == 4
    sent = [call.kwargs["job_config"].query_parameters for call in client.query.call_args_list]
    assert [len(params[0].values) for params in sent] == [INSERT_CHUNK, 3]
    assert [params[1].value for params in sent] == [  # each chunk reads from its own oldest
        when - KEY_LOOKBACK,
        when + dt.timedelta(seconds=INSERT_CHUNK) - KEY_LOOKBACK,
    ]


def test_insert_of_nothing_sends_nothing(client: mock.MagicMock) -> None:
    assert BigQueryWarehouse(client, "d").insert("feedback", []) == 0
    client.query.assert_not_called()


def test_query_sends_parameters_and_default_dataset(client: mock.MagicMock) -> None:
    job = client.query.return_value
    job.result.return_value = []
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    BigQueryWarehouse(client, "creature_vis").query(EFFECTIVE_FEEDBACK_SQL, {"since": since})
    sql = client.query.call_args.args[0]
    config = client.query.call_args.kwargs["job_config"]
    assert sql == EFFECTIVE_FEEDBACK_SQL  # the SQL is sent as written, never spliced
    assert config.default_dataset.dataset_id == "creature_vis"
    assert [p.to_api_repr() for p in config.query_parameters] == [
        {"name": "since", "parameterType": {"type": "TIMESTAMP"},
         "parameterValue": {"value": "2026-01-01 00:00:00+00:00"}},
    ]  # fmt: skip
    assert client.query.call_args.kwargs["location"] == "EU"


def test_array_and_scalar_parameter_types(client: mock.MagicMock) -> None:
    client.query.return_value.result.return_value = []
    BigQueryWarehouse(client, "d").query(
        "SELECT 1 FROM images WHERE source IN UNNEST(@s) AND width > @w AND @f > 0.5 AND @b",
        {"s": ["unsplash", "pexels"], "w": 10, "f": 0.7, "b": True},
    )
    config = client.query.call_args.kwargs["job_config"]
    kinds = {p.name: p.to_api_repr()["parameterType"] for p in config.query_parameters}
    assert kinds == {
        "s": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
        "w": {"type": "INT64"},
        "f": {"type": "FLOAT64"},
        "b": {"type": "BOOL"},
    }


def test_the_statement_skips_held_keys_and_rows_can_be_deleted_at_once(tmp_path: Path) -> None:
    """The INSERT as sent, run by the fake BigQuery (the SQL on DuckDB): a retry adds nothing."""
    cloud = Cloud("demo-project", "demo-bucket", "creature_vis", tmp_path)
    owner = Account("owner", frozenset({"roles/bigquery.admin"}))
    warehouse = BigQueryWarehouse(cloud.bigquery_client(owner), "creature_vis")  # type: ignore[arg-type]
    when = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    rows = [{"point_id": f"p{i}", "created_at": when, "metric": "m", "value": float(i)}
            for i in range(3)]  # fmt: skip
    assert warehouse.insert("metric_points", rows[:2]) == 2
    assert warehouse.insert("metric_points", rows) == 1  # p0 and p1 are held: only p2 is new
    assert warehouse.execute("DELETE FROM metric_points WHERE point_id = @p", {"p": "p2"}) == 1
    held = warehouse.query("SELECT point_id, value, labels_json FROM metric_points ORDER BY 1")
    assert held == [{"point_id": "p0", "value": 0.0, "labels_json": None},
                    {"point_id": "p1", "value": 1.0, "labels_json": None}]  # fmt: skip
