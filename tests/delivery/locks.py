"""Reading the locks in requirements/ and what pyproject.toml asks of them (offline)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

LOCK_DIR = REPO / "requirements"
PROJECT = "creature-vis"
# Each lock and who installs it: the two venvs of the Makefile, and one per image.
LOCKS = ("run", "test", "server", "worker", "bot")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


@dataclass(frozen=True)
class Pin:
    """One locked distribution: its version, hashes and what pulled it in."""

    version: str
    hashes: tuple[str, ...]
    via: tuple[str, ...]


@dataclass(frozen=True)
class Lock:
    """A pip-compile lock: the extras it was compiled for and its pins by canonical name."""

    extras: tuple[str, ...]
    pins: dict[str, Pin]


def read_lock(name: str) -> Lock:
    """Parse ``requirements/<name>.txt``."""
    text = (LOCK_DIR / f"{name}.txt").read_text()
    header = re.search(r"^#\s+pip-compile .*--extra=(\S+)", text, re.MULTILINE)
    assert header, f"requirements/{name}.txt has no pip-compile command naming its extras"
    pins: dict[str, Pin] = {}
    current: str | None = None
    version = ""
    hashes: list[str] = []
    via: list[str] = []
    for line in [*text.splitlines(), "end==0"]:
        pin = _PIN.match(line)
        if pin:
            if current is not None:
                pins[current] = Pin(version, tuple(hashes), tuple(via))
            current, version = canonicalize_name(pin.group(1)), pin.group(2)
            hashes, via = [], []
        elif "--hash=sha256:" in line:
            hashes.append(line.split("--hash=sha256:")[1].strip(" \\"))
        elif (source := re.match(r"^\s+#\s+(?:via\b)?\s*(\S.*)$", line)) and source.group(
            1
        ) != "via":
            via.append(source.group(1).strip())
    return Lock(tuple(header.group(1).split(",")), pins)


def required(extras: tuple[str, ...]) -> list[Requirement]:
    """What pyproject.toml asks for with ``extras``, for this interpreter (markers applied)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    pending, seen = list(extras), set()
    wanted: list[Requirement] = []
    while specs or pending:
        if pending:
            extra = pending.pop()
            if extra not in seen:
                seen.add(extra)
                specs += project["optional-dependencies"][extra]
            continue
        requirement = Requirement(specs.pop(0))
        if canonicalize_name(requirement.name) == PROJECT:  # an extra naming other extras
            pending += list(requirement.extras)
        elif requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            wanted.append(requirement)
    return wanted


def lock_path(name: str) -> Path:
    """Where a lock lives."""
    return LOCK_DIR / f"{name}.txt"
