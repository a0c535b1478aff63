"""What each service account may do (read from Terraform) against what its code does on GCP.

The roles come from infra/ itself, so the matrix cannot drift from the deployment: project
roles from the iam module, bucket roles from the stack's bucket grants, dataset roles from
the warehouse module's editors and viewers. Each component's real GCP code path then runs on
the gcp profile against fake BigQuery and Cloud Storage clients (tests/fakes/gcp_iam.py) that
refuse, as GCP would, any call the account's roles do not allow.
"""

import io
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from google.cloud import bigquery, storage  # type: ignore[attr-defined]
from PIL import Image

from core.images import intake
from core.metrics import WarehouseSink
from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from core.model.handle import open_registry
from core.model.lifecycle import Lifecycle
from core.settings import Settings, load_settings
from core.storage import ImageStore, open_store
from core.warehouse import Warehouse, open_warehouse
from core.warehouse.records import (
    effective_feedback,
    interaction_row,
    new_id,
    record_feedback,
    record_interaction,
)
from tests.fakes.gcp_iam import Account, Cloud
from tests.fakes.gcp_roles import ROLE_PERMISSIONS, allows, permissions
from tests.fakes.terraform_grants import terraform_accounts

pytestmark = pytest.mark.gcp

PROJECT, BUCKET, DATASET = "demo-project", "demo-bucket", "creature_vis"


def test_the_matrix_reads_the_grants_terraform_makes() -> None:
    accounts = terraform_accounts()
    assert set(accounts) >= {"server", "worker", "bot", "exporter", "retrain", "training", "beat"}
    assert "roles/bigquery.jobUser" in accounts["server"].project
    assert accounts["server"].bucket and accounts["server"].dataset
    every_role = {r for a in accounts.values() for r in (*a.project, *a.bucket, *a.dataset)}
    assert every_role <= set(ROLE_PERMISSIONS), "add the new role's permissions to the table"


# --- the components' GCP code paths -----------------------------------------------------


@pytest.fixture
def gcp(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {
        "CREATURE_VIS_PROFILE": "gcp",
        "CREATURE_VIS_GCP__PROJECT": PROJECT,
        "CREATURE_VIS_STORAGE__BACKEND": "gcs",
        "CREATURE_VIS_STORAGE__BUCKET": BUCKET,
        "CREATURE_VIS_WAREHOUSE__BACKEND": "bigquery",
        "CREATURE_VIS_WAREHOUSE__DATASET": DATASET,
    }.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def cloud(tmp_path: Path) -> Cloud:
    return Cloud(PROJECT, BUCKET, DATASET, tmp_path)


Opened = tuple[ImageStore, Warehouse]


@pytest.fixture
def run_as(gcp: Settings, cloud: Cloud) -> Callable[[Account], Opened]:
    """Open the store and warehouse the way every component does, acting as an account."""

    def opened(account: Account) -> Opened:
        with (
            mock.patch.object(storage, "Client", return_value=cloud.storage_client(account)),
            mock.patch.object(bigquery, "Client", return_value=cloud.bigquery_client(account)),
        ):
            return open_store(gcp), open_warehouse(gcp)

    return opened


OWNER = Account("owner", frozenset({"roles/storage.admin", "roles/bigquery.admin"}))


def _photo(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (seed % 256, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def _prediction(store: ImageStore, warehouse: Warehouse, user: str, seed: int) -> str:
    """What the server, worker and bot do with a photo: store it, log the prediction."""
    from core.photos import store_photo

    stored = store_photo(store, warehouse, intake(_photo(seed)), source="telegram", user_id=user)
    interaction = new_id()
    record_interaction(
        warehouse,
        interaction_row(
            interaction_id=interaction,
            channel="telegram",
            image_id=stored.image_id,
            model_version="v0",
            top3=[("dog", 0.8), ("cat", 0.1), ("fox", 0.1)],
            user_id=user,
        ),
    )
    return interaction


def _two_promotions(settings: Settings, store: ImageStore, warehouse: Warehouse) -> None:
    """A retraining round's registry work: register challengers and promote them."""
    lifecycle = Lifecycle(open_registry(settings, store), warehouse)
    parent = lifecycle.registry.ensure_taxonomy()
    for _ in range(2):
        head = Head(
            np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32), np.zeros(NUM_LABELS, np.float32)
        )
        version = lifecycle.register(head, parent=parent, dataset_version="d1", metrics={})
        lifecycle.promote(version, reason="beat the champion", replacing=parent)
        parent = version


def _refusals(account: Account, work: Callable[[], object]) -> list[str]:
    try:
        work()
    except Exception:  # a refusal ends the path; the test reports them all
        if not account.denied:
            raise
    return account.denied


def _check(account: Account, work: Callable[[], object]) -> None:
    denied = _refusals(account, work)
    assert not denied, (
        f"Terraform does not grant {account.name} what its code needs: "
        + "; ".join(denied)
        + f" (its roles: project {sorted(account.project)}, bucket {sorted(account.bucket)},"
        f" dataset {sorted(account.dataset)})"
    )


@pytest.fixture
def accounts() -> dict[str, Account]:
    return terraform_accounts()


def test_server_logs_requests_and_answers(
    run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    def work() -> None:
        store, warehouse = run_as(accounts["server"])
        interaction = _prediction(store, warehouse, "web:1", 1)
        record_feedback(warehouse, interaction_id=interaction, user_id="web:1", correct=True)

    _check(accounts["server"], work)


def test_server_believes_an_admins_key_and_then_its_revocation(
    run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    from core.api_keys import issue_key, revoke_key
    from core.errors import UnknownApiKey
    from model_server.identity import KeyCache

    _, admin_warehouse = run_as(OWNER)  # `creature-vis keys` runs as the admin's own account
    key, record = issue_key(admin_warehouse, note="Ada", operator="cli:ada")

    def work() -> None:
        _, warehouse = run_as(accounts["server"])
        keys = KeyCache(warehouse, ttl=0)
        assert keys.holder(key).user_id == record.user_id
        revoke_key(admin_warehouse, record.key_id, operator="cli:ada")
        with pytest.raises(UnknownApiKey):
            keys.holder(key)

    _check(accounts["server"], work)


def test_worker_logs_interactions_and_feedback(
    run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    def work() -> None:
        store, warehouse = run_as(accounts["worker"])
        interaction = _prediction(store, warehouse, "telegram:2", 2)
        record_feedback(
            warehouse, interaction_id=interaction, user_id="telegram:2", correct=False, label="cat"
        )

    _check(accounts["worker"], work)


def test_bot_forgets_a_person(
    gcp: Settings, run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    from bot.photos import forget, store_original

    def work() -> None:
        # The worker logs the person's prediction and answer moments before /forget.
        worker_store, worker_warehouse = run_as(accounts["worker"])
        interaction = _prediction(worker_store, worker_warehouse, "telegram:42", 4)
        record_feedback(worker_warehouse, interaction_id=interaction, user_id="telegram:42",
                        correct=True)  # fmt: skip
        store, warehouse = run_as(accounts["bot"])
        # The bot stores the original; /forget writes its images row held in Redis.
        warehouse.insert("images", [store_original(store, intake(_photo(3)), 42)])
        counts = forget(gcp, store, warehouse, 42)
        # Rows written seconds ago are deletable: nothing sits in a streaming buffer.
        assert (counts["interactions"], counts["feedback"]) == (1, 1)
        assert counts["photos"] >= 1

    _check(accounts["bot"], work)
    _check(accounts["worker"], lambda: None)


def test_bot_rolls_production_back(
    gcp: Settings, run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    from bot.reports import rollback

    _two_promotions(gcp, *run_as(OWNER))

    def work() -> None:
        store, warehouse = run_as(accounts["bot"])
        before, after = rollback(gcp, store, warehouse, "admin:1")
        assert before != after

    _check(accounts["bot"], work)


def test_exporter_reads_and_moves_its_watermark(
    gcp: Settings, run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    from monitoring.exporter import export_metrics, read_watermark

    def work() -> None:
        store, warehouse = run_as(accounts["exporter"])
        for _ in range(2):  # the first run writes the watermark, the next overwrites it
            export_metrics(
                gcp,
                warehouse=warehouse,
                store=store,
                sink=WarehouseSink(warehouse),
                writer=lambda points: None,
            )
        assert read_watermark(store) is not None

    _check(accounts["exporter"], work)


# The training queue's consumer (Cloud Run `training` service, account `retrain`) and a
# round run in a Vertex AI job (account `training`) both read answers and move the registry.
@pytest.mark.parametrize("name", ["retrain", "training"])
def test_retraining_round_reads_answers_and_moves_the_registry(
    gcp: Settings, run_as: Callable[[Account], Opened], accounts: dict[str, Account], name: str
) -> None:
    store, warehouse = run_as(OWNER)
    interaction = _prediction(store, warehouse, "telegram:5", 5)
    record_feedback(warehouse, interaction_id=interaction, user_id="telegram:5", correct=True)

    def work() -> None:
        store, warehouse = run_as(accounts[name])
        assert effective_feedback(warehouse)
        _two_promotions(gcp, store, warehouse)

    _check(accounts[name], work)


def test_the_fake_refuses_what_a_role_lacks(run_as: Callable[[Account], Opened]) -> None:
    reader = Account(
        "reader",
        frozenset({"roles/bigquery.jobUser"}),
        frozenset({"roles/storage.objectViewer"}),
        frozenset({"roles/bigquery.dataViewer"}),
    )
    denied = _refusals(reader, lambda: _prediction(*run_as(reader), "u", 6))
    assert denied == [
        f"reader needs storage.objects.create on gs://{BUCKET}/"
        + denied[0].split(f"gs://{BUCKET}/")[1]
    ]
    assert not allows(permissions(["roles/bigquery.dataEditor"]), "bigquery.jobs.create")


def test_the_exporter_may_touch_only_its_own_objects(
    run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    from google.api_core import exceptions as gexc

    store, _ = run_as(accounts["exporter"])
    with pytest.raises(gexc.Forbidden):
        store.get("images/aa/someone.jpg")
    with pytest.raises(gexc.Forbidden):
        store.delete("models/production.json")
