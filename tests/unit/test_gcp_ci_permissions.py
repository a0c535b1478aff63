"""The CI accounts against what `terraform plan` and `terraform apply` touch (from infra/)."""

import re

import pytest

from tests.fakes.gcp_roles import MANAGE, allows, permissions
from tests.fakes.terraform_grants import blocks, load, resources

pytestmark = pytest.mark.gcp


def test_the_deployer_may_manage_every_resource_type_terraform_declares() -> None:
    deployer = permissions(load("iam")["locals"][0]["deployer_roles"])
    declared = set().union(*resources().values())
    assert declared <= set(MANAGE), "say which permission creating the new type needs"
    missing = sorted(f"{t} ({MANAGE[t]})" for t in declared if not allows(deployer, MANAGE[t]))
    assert not missing, f"the deployer's roles cannot apply: {', '.join(missing)}"


def test_the_planner_may_refresh_every_secret_value_terraform_holds() -> None:
    """A plan refreshes each secret version Terraform manages, which reads its payload."""
    planner = permissions(load("iam")["locals"][0]["planner_roles"])
    if allows(planner, "secretmanager.versions.access"):
        return
    calls = {name: body for entry in load("stack")["module"] for name, body in entry.items()}
    for module, types in resources().items():
        if "google_secret_manager_secret_version" not in types:
            continue
        grants = blocks(load(module), "resource", "google_secret_manager_secret_iam_member")
        readers = [
            calls[module][re.sub(r"\$\{toset\(var\.(\w+)\)\}", r"\1", b["for_each"])]
            for b in grants.values()
            if b["role"] == "roles/secretmanager.secretAccessor"
        ]
        assert any('ci_service_accounts["planner"]' in str(r) for r in readers), (
            f"`terraform plan` (the planner) cannot read the secret version that module "
            f"{module} manages: secretmanager.viewer holds no secretmanager.versions.access"
        )
