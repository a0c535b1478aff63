"""The BigQuery adapter, checked by the exact requests it gives the client (no cloud here)."""

import datetime as dt
from unittest import mock

import pytest
from google.cloud import bigquery

from core.warehouse import TABLES
from core.warehouse.bigquery_backend import BigQueryWarehouse, bigquery_table
from core.warehouse.records import EFFECTIVE_FEEDBACK_SQL

pytestmark = pytest.mark.gcp


@pytest.fixture
def client() -> mock.MagicMock:
    client = mock.create_autospec(bigquery.Client, instance=True)
    client.project = "demo-project"
    client.insert_rows_json.return_value = []
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


def test_insert_streams_json_with_keys_as_insert_ids(client: mock.MagicMock) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    row = {"feedback_id": "f1", "created_at": when, "interaction_id": "i1", "user_id": "u",
           "is_correct": True, "label": "dog"}  # fmt: skip
    assert BigQueryWarehouse(client, "creature_vis").insert("feedback", [row]) == 1
    client.insert_rows_json.assert_called_once_with(
        "demo-project.creature_vis.feedback",
        [{**row, "created_at": "2026-01-02T03:04:05+00:00"}],
        row_ids=["f1"],
    )


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
