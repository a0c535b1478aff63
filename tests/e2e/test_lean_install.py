"""`make run` installs only the runtime extras: prove the system imports and serves on them.

The test venv also holds the dev tools (and Vertex AI's client), so the runtime set is
checked by hiding every module that only those extras bring: a ``sitecustomize`` on
PYTHONPATH refuses to import them in every process `creature-vis run` starts.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from testkit.run_support import start_run, user_env, wait_ready
from testkit.workers_support import free_port
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.datasets, pytest.mark.timeout(600)]
APP_PACKAGES = ("core", "bot", "workers", "model_server", "retraining", "monitoring", "cli")

SITECUSTOMIZE = """
import importlib.abc, json, os, sys

HIDDEN = frozenset(json.loads(os.environ["LEAN_HIDDEN_MODULES"]))


class _Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"{name} is not in the runtime install", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
"""


def makefile_extras(name: str) -> list[str]:
    """The extras a Makefile variable names (following ``$(OTHER)`` references)."""
    text = (REPO / "Makefile").read_text()
    value = re.search(rf"^{name} := (.+)$", text, re.MULTILINE)
    assert value, f"no {name} in the Makefile"
    extras: list[str] = []
    for part in value.group(1).split(","):
        reference = re.fullmatch(r"\$\((\w+)\)", part.strip())
        extras += makefile_extras(reference.group(1)) if reference else [part.strip()]
    return extras


def closure(extras: list[str]) -> set[str]:
    """Names of the distributions creature-vis with ``extras`` installs."""
    seen: set[str] = set()
    pending = [(Requirement(f"creature-vis[{','.join(extras)}]"), "")]
    while pending:
        requirement, _ = pending.pop()
        name = requirement.name.lower().replace("_", "-")
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for line in dist.requires or []:
            child = Requirement(line)
            wanted = any(
                child.marker is None or child.marker.evaluate({"extra": extra})
                for extra in [*requirement.extras, ""]
            )
            if wanted:
                pending.append((child, name))
    return {key.partition("[")[0] for key in seen}


def top_level_modules(distributions: set[str]) -> set[str]:
    """The top-level import names the distributions provide."""
    modules: set[str] = set()
    for name in distributions:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            first = file.parts[0]
            if first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "bin"):
                continue
            if len(file.parts) > 1 or first.endswith((".py", ".so")):
                modules.add(first.split(".")[0])
    return modules


def hidden_modules() -> set[str]:
    runtime = closure(makefile_extras("RUN_EXTRAS"))
    everything = closure(makefile_extras("TEST_EXTRAS"))
    hidden = top_level_modules(everything - runtime) - top_level_modules(runtime)
    return hidden - set(APP_PACKAGES) - {"tests", "__pycache__"}


@pytest.fixture
def lean_env(tmp_path: Path) -> dict[str, str]:
    hidden = hidden_modules()
    assert {"pytest", "torch", "playwright", "schemathesis"} <= hidden
    assert "tensorflow" not in hidden and "telegram" not in hidden
    site = tmp_path / "lean-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return user_env(PYTHONPATH=str(site), LEAN_HIDDEN_MODULES=json.dumps(sorted(hidden)))


def test_every_application_module_imports_without_the_dev_extras(
    lean_env: dict[str, str],
) -> None:
    script = (
        "import importlib, pkgutil, sys\n"
        "try:\n    import pytest\nexcept ModuleNotFoundError:\n    pass\n"
        "else:\n    sys.exit('the dev tools are not hidden')\n"
        f"for package in {APP_PACKAGES!r}:\n"
        "    module = importlib.import_module(package)\n"
        "    for info in pkgutil.walk_packages(module.__path__, package + '.'):\n"
        "        importlib.import_module(info.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=lean_env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def test_run_serves_a_prediction_without_the_dev_extras(
    lean_env: dict[str, str], tmp_path: Path, animals_dev: Path
) -> None:
    from testkit.bot_harness import share_model_cache

    data_dir = tmp_path / "var"
    share_model_cache(data_dir)
    port = free_port()
    env = {
        **lean_env,
        "CREATURE_VIS_DATA_DIR": str(data_dir),
        "CREATURE_VIS_SERVER__PORT": str(port),
        "CREATURE_VIS_REDIS__EMBEDDED_PORT": str(free_port()),
    }
    log = tmp_path / "run.log"
    process = start_run(env, log)
    try:
        wait_ready(process, port, log)
        photo = sorted((animals_dev / "dog").glob("inS_*.jpg"))[0].read_bytes()
        answer = post_photo(f"http://127.0.0.1:{port}/v1/predictions", photo)
        top3 = answer["top3"]
        assert isinstance(top3, list)
        assert top3[0]["label"] == "dog"  # the photo the bot tests call a dog
        time.sleep(2)  # the worker, beat and training worker stay up too
        assert process.poll() is None, log.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=90)
    text = log.read_text()
    assert code == 0, text
    assert "ModuleNotFoundError" not in text and "not in the runtime install" not in text


def post_photo(url: str, photo: bytes) -> dict[str, object]:
    boundary = "creature-vis-lean-test"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="dog.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(  # noqa: S310  (a local server)
        url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
        result: dict[str, object] = json.loads(answer.read())
    return result
