"""Unit tests run in-process: any attempt to start a child process fails the test."""

from __future__ import annotations

import _posixsubprocess
import os
import subprocess
from typing import Any, NoReturn

import pytest


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError(
        "a unit test started a process: it belongs in tests/integration or tests/delivery"
    )


@pytest.fixture(autouse=True)
def no_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block subprocess, multiprocessing (fork and spawn) and os.system for this test."""
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _refuse)
    monkeypatch.setattr(_posixsubprocess, "fork_exec", _refuse)
    monkeypatch.setattr(os, "fork", _refuse)
    monkeypatch.setattr(os, "system", _refuse)
