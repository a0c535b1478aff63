"""Start-up on the gcp profile only reads: Terraform owns the bucket, dataset and tables.

The BigQuery and Cloud Storage clients are mocked (nothing real runs here); the tests assert
on the exact requests a component makes when it opens them.
"""

from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery, storage  # type: ignore[attr-defined]

from core.errors import ConfigurationError, MissingInfrastructure
from core.settings import Settings, load_settings
from core.storage import LocalStore, open_store
from core.warehouse import TABLES, open_warehouse
from core.warehouse.bigquery_backend import BigQueryWarehouse

pytestmark = pytest.mark.gcp


@pytest.fixture
def gcp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {
        "CREATURE_VIS_PROFILE": "gcp",
        "CREATURE_VIS_GCP__PROJECT": "demo-project",
        "CREATURE_VIS_STORAGE__BACKEND": "gcs",
        "CREATURE_VIS_STORAGE__BUCKET": "demo-bucket",
        "CREATURE_VIS_WAREHOUSE__BACKEND": "bigquery",
    }.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def bq() -> Iterator[mock.MagicMock]:
    client = mock.create_autospec(bigquery.Client, instance=True)
    client.project = "demo-project"
    client.list_tables.return_value = [mock.Mock(table_id=name) for name in TABLES]
    with mock.patch.object(bigquery, "Client", return_value=client):
        yield client


@pytest.fixture
def gcs() -> Iterator[mock.MagicMock]:
    client = mock.create_autospec(storage.Client, instance=True)
    client.list_blobs.return_value = iter([])
    with mock.patch.object(storage, "Client", return_value=client):
        yield client


def _creates(client: mock.MagicMock) -> list[str]:
    return [name for name, *_ in client.mock_calls if name.split(".")[0].startswith("create")]


def test_opening_the_warehouse_on_gcp_only_lists_the_tables(
    gcp: Settings, bq: mock.MagicMock
) -> None:
    warehouse = open_warehouse(gcp)
    assert isinstance(warehouse, BigQueryWarehouse)
    bq.list_tables.assert_called_once_with("demo-project.creature_vis")
    assert _creates(bq) == []
    assert bq.create_dataset.call_count == bq.create_table.call_count == 0


def test_a_missing_dataset_names_the_terraform_module(gcp: Settings, bq: mock.MagicMock) -> None:
    bq.list_tables.side_effect = gexc.NotFound("Dataset demo-project:creature_vis not found")
    with pytest.raises(MissingInfrastructure, match=r"infra/modules/warehouse") as caught:
        open_warehouse(gcp)
    assert "demo-project.creature_vis" in str(caught.value)
    assert _creates(bq) == []


def test_a_missing_table_is_named(gcp: Settings, bq: mock.MagicMock) -> None:
    bq.list_tables.return_value = [mock.Mock(table_id=n) for n in TABLES if n != "feedback"]
    with pytest.raises(MissingInfrastructure, match=r"tables missing .*: feedback; .*warehouse"):
        open_warehouse(gcp)
    assert _creates(bq) == []


def test_the_bigquery_adapter_refuses_to_create_tables(bq: mock.MagicMock) -> None:
    with pytest.raises(ConfigurationError, match="created by Terraform"):
        BigQueryWarehouse(bq, "creature_vis").create_tables()
    assert bq.mock_calls == []


def test_opening_the_bucket_on_gcp_lists_one_object_and_creates_nothing(
    gcp: Settings, gcs: mock.MagicMock
) -> None:
    open_store(gcp)
    gcs.bucket.assert_called_once_with("demo-bucket")
    gcs.list_blobs.assert_called_once_with(gcs.bucket.return_value, prefix="", max_results=1)
    assert _creates(gcs) == []
    assert gcs.bucket.return_value.create.call_count == 0


def test_a_missing_bucket_names_the_terraform_module(gcp: Settings, gcs: mock.MagicMock) -> None:
    gcs.list_blobs.side_effect = gexc.NotFound("The specified bucket does not exist.")
    with pytest.raises(MissingInfrastructure, match=r"demo-bucket .*infra/modules/storage"):
        open_store(gcp)


def test_the_local_profile_still_creates_its_tables_and_directories(
    settings: Settings, data_dir: Path
) -> None:
    store = open_store(settings)
    assert isinstance(store, LocalStore)
    assert settings.storage_root.is_dir()
    warehouse = open_warehouse(settings)
    for table in TABLES:
        assert warehouse.query(f"SELECT COUNT(*) AS n FROM {table}") == [{"n": 0}]  # noqa: S608
    warehouse.close()
