"""The locks in requirements/: current with pyproject.toml, and what every install takes.

Offline: the locks are read as text and checked against pyproject.toml, the Makefile and the
Dockerfiles. `make lock` regenerates them; a dependency added, removed or given a new
bound in pyproject.toml without it fails here.
"""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO
from tests.delivery.locks import LOCKS, PROJECT, read_lock, required

MAKEFILE = (REPO / "Makefile").read_text()
# The Makefile variable naming each lock's extras.
EXTRAS_VARIABLE = {
    "run": "RUN_EXTRAS",
    "test": "TEST_EXTRAS",
    "server": "SERVER_IMAGE_EXTRAS",
    "worker": "WORKER_IMAGE_EXTRAS",
    "bot": "BOT_IMAGE_EXTRAS",
}


def _variable(name: str) -> str:
    """A Makefile variable's value, with ``$(OTHER)`` references expanded."""
    found = re.search(rf"^{name}\s*:?=\s*(.*)$", MAKEFILE, re.MULTILINE)
    assert found, f"no {name} in the Makefile"
    return re.sub(r"\$\((\w+)\)", lambda m: _variable(m.group(1)), found.group(1).strip())


@pytest.mark.parametrize("name", LOCKS)
def test_each_lock_holds_what_pyproject_asks_with_its_extras(name: str) -> None:
    lock = read_lock(name)
    assert ",".join(lock.extras) == _variable(EXTRAS_VARIABLE[name])
    wanted = required(lock.extras)
    stale = []
    for requirement in wanted:
        pin = lock.pins.get(canonicalize_name(requirement.name))
        assert pin, f"{requirement} is not in requirements/{name}.txt: run `make lock`"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"requirements/{name}.txt pins {requirement.name}=={pin.version}, outside "
            f"{requirement}: run `make lock`"
        )
    names = {canonicalize_name(r.name) for r in wanted}
    for locked, pin in lock.pins.items():
        if pin.via == (f"{PROJECT} (pyproject.toml)",) and locked not in names:
            stale.append(locked)
    assert not stale, f"requirements/{name}.txt keeps what pyproject.toml dropped: {stale}"


@pytest.mark.parametrize("name", LOCKS)
def test_every_pin_carries_hashes_and_the_constraints_hold(name: str) -> None:
    lock = read_lock(name)
    assert all(pin.hashes for pin in lock.pins.values())
    constraints = (REPO / "requirements" / "constraints.txt").read_text().splitlines()
    for line in constraints:
        if line.strip() and not line.startswith("#"):
            limit = Requirement(line)
            pin = lock.pins.get(canonicalize_name(limit.name))
            assert pin is None or limit.specifier.contains(pin.version), (name, line)


def test_the_smaller_locks_agree_with_the_full_one() -> None:
    full = read_lock("test").pins
    for name in LOCKS:
        for locked, pin in read_lock(name).pins.items():
            assert full[locked].version == pin.version, (name, locked)


def test_the_venvs_install_from_their_locks() -> None:
    installs = re.findall(r"^\t\$\(BIN\)/pip install (.*)$", MAKEFILE, re.MULTILINE)
    pip_spec = _variable("PIP_SPEC")
    assert installs == [
        "--quiet '$(PIP_SPEC)'",
        "--quiet --require-hashes -r requirements/run.txt",
        "--quiet --no-deps -e .",
        "--quiet --require-hashes -r requirements/test.txt",
    ]
    assert re.fullmatch(r"pip==[\d.]+", pip_spec)


@pytest.mark.parametrize("name", ["server", "worker", "bot"])
def test_each_image_installs_its_lock_and_then_the_project_alone(name: str) -> None:
    text = re.sub(r"\\\n\s*", " ", (REPO / "docker" / f"{name}.Dockerfile").read_text())
    installs = re.findall(r"pip install ([^&\n]*)", text)
    assert [i.strip() for i in installs] == [
        f'"{_variable("PIP_SPEC")}"',
        f"--require-hashes -r requirements/{name}.txt",
        "--no-deps .",
    ]
    assert f"COPY requirements/{name}.txt ./requirements/{name}.txt" in text
