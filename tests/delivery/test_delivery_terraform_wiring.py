"""What `terraform validate` would catch in the wiring, checked without provider plugins.

Every module call passes only variables the module declares and every variable without a
default; every ``var.``, ``local.`` and ``module.<name>.<output>`` reference resolves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.conftest import REPO

INFRA = REPO / "infra"
FOLDERS = sorted({path.parent for path in INFRA.rglob("*.tf")})
META_ARGUMENTS = {"source", "depends_on", "count", "for_each", "providers", "version"}


def _strip(name: str) -> str:
    return name.strip('"')


def _blocks(folder: Path, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(folder.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for block in parsed.get(kind, []):
            for name, body in block.items():
                found[_strip(name)] = body
    return found


def _locals(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in sorted(folder.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("locals", []):
                names |= {key for key in block if not key.startswith("__")}
    return names


def _text(folder: Path) -> str:
    # Comments may mention names that do not exist; references live in code only.
    code = [re.sub(r"#.*", "", p.read_text()) for p in sorted(folder.glob("*.tf"))]
    return "\n".join(code)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(INFRA)))
def test_module_calls_match_the_modules_they_call(folder: Path) -> None:
    for name, call in _blocks(folder, "module").items():
        target = (folder / _strip(call["source"])).resolve()
        assert target.is_dir(), f"{name}: {target}"
        variables = _blocks(target, "variable")
        passed = {key for key in call if not key.startswith("__")} - META_ARGUMENTS
        assert passed <= set(variables), f"{name} passes undeclared {passed - set(variables)}"
        required = {v for v, body in variables.items() if "default" not in body}
        assert required <= passed, f"{name} misses required {required - passed}"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_reference_resolves(folder: Path) -> None:
    text = _text(folder)
    variables = set(_blocks(folder, "variable"))
    assert set(re.findall(r"\bvar\.(\w+)", text)) <= variables
    assert set(re.findall(r"\blocal\.(\w+)", text)) <= _locals(folder)
    calls = _blocks(folder, "module")
    for name, output in set(re.findall(r"\bmodule\.(\w+)\.(\w+)", text)):
        assert name in calls, f"no module {name} in {folder.name}"
        target = (folder / _strip(calls[name]["source"])).resolve()
        assert output in _blocks(target, "output"), f"module {name} has no output {output}"


def test_every_module_declares_its_provider_versions() -> None:
    for folder in FOLDERS:
        text = _text(folder)
        assert 'source  = "hashicorp/google"' in text, folder
        assert 'version = "~> 6.0"' in text, folder
