"""Who holds which role, read from the Terraform files under infra/ (python-hcl2).

A small reader of the grant resources this deployment uses; an expression shape it does
not know fails loudly, so the permission matrix cannot silently read less than is there.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2

from tests.fakes.gcp_iam import Account

INFRA = Path(__file__).resolve().parents[2] / "infra"


def _unquote(raw: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals; drop them, recursively."""
    if isinstance(raw, str):
        return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if isinstance(raw, list):
        return [_unquote(item) for item in raw]
    if isinstance(raw, dict):
        return {_unquote(k): _unquote(v) for k, v in raw.items() if k != "__is_block__"}
    return raw


def load(module: str) -> dict[str, Any]:
    with (INFRA / "modules" / module / "main.tf").open() as handle:
        loaded: dict[str, Any] = _unquote(hcl2.load(handle))
    return loaded


def blocks(loaded: dict[str, Any], kind: str, type_: str) -> dict[str, dict[str, Any]]:
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
    iam, stack, warehouse = load("iam"), load("stack"), load("warehouse")
    workloads: dict[str, list[str]] = iam["locals"][0]["workloads"]
    grant = blocks(iam, "resource", "google_project_iam_member")["workloads"]
    assert grant["for_each"] == "${local.grants}", "the iam module's grants changed shape"
    bucket: dict[str, set[str]] = {name: set() for name in workloads}
    limits: dict[str, dict[str, str]] = {name: {} for name in workloads}
    for body in blocks(stack, "resource", "google_storage_bucket_iam_member").values():
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
    for variable, body in blocks(
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


def resources() -> dict[str, set[str]]:
    """Module name to the resource types it declares (every module of infra/)."""
    return {
        folder.name: {type_ for entry in load(folder.name).get("resource", []) for type_ in entry}
        for folder in sorted((INFRA / "modules").iterdir())
        if (folder / "main.tf").is_file()
    }
