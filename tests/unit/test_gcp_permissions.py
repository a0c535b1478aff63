"""What each service account may do (read from Terraform) against what its code does on GCP.

The roles come from infra/ itself, so the matrix cannot drift from the deployment: project
roles from the iam module, bucket roles from the stack's bucket grants, dataset roles from
the warehouse module's editors and viewers. Each component's real GCP code path then runs on
the gcp profile against fake BigQuery and Cloud Storage clients (tests/fakes/gcp_iam.py) that
refuse, as GCP would, any call the account's roles do not allow.
"""

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import hcl2
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
from tests.fakes.gcp_iam import MANAGE, ROLE_PERMISSIONS, Account, Cloud, allows, permissions

pytestmark = pytest.mark.gcp

INFRA = Path(__file__).resolve().parents[2] / "infra"
PROJECT, BUCKET, DATASET = "demo-project", "demo-bucket", "creature_vis"


# --- Terraform: who holds which role ----------------------------------------------------


def _unquote(raw: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals; drop them, recursively."""
    if isinstance(raw, str):
        return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if isinstance(raw, list):
        return [_unquote(item) for item in raw]
    if isinstance(raw, dict):
        return {_unquote(k): _unquote(v) for k, v in raw.items() if k != "__is_block__"}
    return raw


def _load(module: str) -> dict[str, Any]:
    with (INFRA / "modules" / module / "main.tf").open() as handle:
        loaded: dict[str, Any] = _unquote(hcl2.load(handle))
    return loaded


def _blocks(loaded: dict[str, Any], kind: str, type_: str) -> dict[str, dict[str, Any]]:
    """Every ``kind "type_" "name" {}`` block of a file, by name."""
    found: dict[str, dict[str, Any]] = {}
    for entry in loaded.get(kind, []):
        for name, body in entry.get(type_, {}).items():
            found[name] = body
    return found


def _strings(expression: str) -> list[str]:
    return re.findall(r'"([^"]+)"', expression)


def _members(expression: str | list[str], each: str | None) -> list[str]:
    """Workload names an expression like ``local.members["bot"]`` (or ``[each.value]``) names."""
    if isinstance(expression, list):
        return [name for item in expression for name in _members(item, each)]
    if expression == "${local.members[each.value]}" and each is not None:
        return [each]
    if match := re.fullmatch(r'\$\{local\.members\["([a-z]+)"\]\}', expression):
        return [match.group(1)]
    if match := re.fullmatch(
        r"\$\{\[for name in (\[[^]]*\]) : local\.members\[name\]\]\}", expression
    ):
        return _strings(match.group(1))
    raise AssertionError(f"the permission matrix cannot read the member {expression!r}")


def _object_prefix(body: dict[str, Any]) -> str | None:
    """The object prefix a bucket grant's IAM condition limits it to (None: no condition)."""
    if "condition" not in body:
        return None
    expression = body["condition"][0]["expression"].replace('\\"', '"')
    match = re.fullmatch(
        r'resource\.type != "storage\.googleapis\.com/Object" \|\| resource\.name\.startsWith\('
        r'"projects/_/buckets/\$\{module\.storage\.name\}/objects/([^"]+)"\)',
        expression,
    )
    assert match, f"the permission matrix cannot read the condition {expression!r}"
    return match.group(1)


def _expand(body: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """(role, workloads) of one ``*_iam_member`` block, with a literal ``toset([...])``."""
    raw = body.get("for_each")
    if raw is None:
        yield body["role"], _members(body["member"], None)
        return
    match = re.fullmatch(r"\$\{toset\((\[[^]]*\])\)\}", raw)
    assert match, f"the permission matrix cannot read for_each = {raw!r}"
    for each in _strings(match.group(1)):
        role = each if body["role"] == "${each.value}" else body["role"]
        yield role, _members(body["member"], each)


def terraform_accounts() -> dict[str, Account]:
    """Every workload account with the roles Terraform grants it."""
    iam, stack, warehouse = _load("iam"), _load("stack"), _load("warehouse")
    workloads: dict[str, list[str]] = iam["locals"][0]["workloads"]
    grant = _blocks(iam, "resource", "google_project_iam_member")["workloads"]
    assert grant["for_each"] == "${local.grants}", "the iam module's grants changed shape"
    bucket: dict[str, set[str]] = {name: set() for name in workloads}
    limits: dict[str, dict[str, str]] = {name: {} for name in workloads}
    for body in _blocks(stack, "resource", "google_storage_bucket_iam_member").values():
        assert body["bucket"] == "${module.storage.name}", "a grant on another bucket"
        prefix = _object_prefix(body)
        for role, names in _expand(body):
            for name in names:
                assert role not in bucket[name], f"{name} holds {role} twice on the bucket"
                bucket[name].add(role)
                if prefix is not None:
                    limits[name][role] = prefix
    dataset: dict[str, set[str]] = {name: set() for name in workloads}
    call = next(entry["warehouse"] for entry in stack["module"] if "warehouse" in entry)
    for variable, body in _blocks(
        warehouse, "resource", "google_bigquery_dataset_iam_member"
    ).items():
        assert body["for_each"] == f"${{toset(var.{variable})}}", "dataset grants changed shape"
        for name in _members(call[variable], None):
            dataset[name].add(body["role"])
    return {
        name: Account(
            name, frozenset(roles), frozenset(bucket[name]), frozenset(dataset[name]), limits[name]
        )
        for name, roles in workloads.items()
    }


def test_the_matrix_reads_the_grants_terraform_makes() -> None:
    accounts = terraform_accounts()
    assert set(accounts) >= {"server", "worker", "bot", "exporter", "training", "beat"}
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
    from bot.photos import forget, store_user_photo

    def work() -> None:
        store, warehouse = run_as(accounts["bot"])
        store_user_photo(store, warehouse, intake(_photo(3)), 42)
        counts = forget(gcp, store, warehouse, 42)
        assert counts["photos"] == 1

    _check(accounts["bot"], work)


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


def test_retraining_round_reads_answers_and_moves_the_registry(
    gcp: Settings, run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    store, warehouse = run_as(OWNER)
    interaction = _prediction(store, warehouse, "telegram:5", 5)
    record_feedback(warehouse, interaction_id=interaction, user_id="telegram:5", correct=True)

    def work() -> None:
        store, warehouse = run_as(accounts["training"])
        assert effective_feedback(warehouse)
        _two_promotions(gcp, store, warehouse)

    _check(accounts["training"], work)


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


# --- the CI accounts ----------------------------------------------------------------------


def _resources() -> dict[str, set[str]]:
    """Module name to the resource types it declares (every module of infra/)."""
    return {
        folder.name: {type_ for entry in _load(folder.name).get("resource", []) for type_ in entry}
        for folder in sorted((INFRA / "modules").iterdir())
        if (folder / "main.tf").is_file()
    }


def test_the_deployer_may_manage_every_resource_type_terraform_declares() -> None:
    deployer = permissions(_load("iam")["locals"][0]["deployer_roles"])
    declared = set().union(*_resources().values())
    assert declared <= set(MANAGE), "say which permission creating the new type needs"
    missing = sorted(f"{t} ({MANAGE[t]})" for t in declared if not allows(deployer, MANAGE[t]))
    assert not missing, f"the deployer's roles cannot apply: {', '.join(missing)}"


def test_the_planner_may_refresh_every_secret_value_terraform_holds() -> None:
    """A plan refreshes each secret version Terraform manages, which reads its payload."""
    planner = permissions(_load("iam")["locals"][0]["planner_roles"])
    if allows(planner, "secretmanager.versions.access"):
        return
    calls = {name: body for entry in _load("stack")["module"] for name, body in entry.items()}
    for module, types in _resources().items():
        if "google_secret_manager_secret_version" not in types:
            continue
        grants = _blocks(_load(module), "resource", "google_secret_manager_secret_iam_member")
        readers = [
            calls[module][re.sub(r"\$\{toset\(var\.(\w+)\)\}", r"\1", b["for_each"])]
            for b in grants.values()
            if b["role"] == "roles/secretmanager.secretAccessor"
        ]
        assert any('ci_service_accounts["planner"]' in str(r) for r in readers), (
            f"`terraform plan` (the planner) cannot read the secret version that module "
            f"{module} manages: secretmanager.viewer holds no secretmanager.versions.access"
        )


def test_the_exporter_may_touch_only_its_own_objects(
    run_as: Callable[[Account], Opened], accounts: dict[str, Account]
) -> None:
    from google.api_core import exceptions as gexc

    store, _ = run_as(accounts["exporter"])
    with pytest.raises(gexc.Forbidden):
        store.get("images/aa/someone.jpg")
    with pytest.raises(gexc.Forbidden):
        store.delete("models/production.json")
