"""docker-compose.yml's application services as local processes (no Docker engine here).

Every service whose image this repository builds runs its compose ``command`` (or its
Dockerfile's ``CMD``) with its Dockerfile's ``ENV`` and then its compose ``environment`` on
top, as the container would. What exists only inside containers is replaced, and nothing
else: a compose service's host name becomes 127.0.0.1 (the Redis service a private database
of the test session's Redis), the ``data`` volume a temporary directory, ``/app/probe.py``
this checkout's ``docker/probe.py``, a published container port a free port, the image's
Python this interpreter (on this checkout). Services start in ``depends_on`` order, each
after the compose healthchecks of what it depends on pass, as ``docker compose up`` does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testkit.paths import REPO
from testkit.run_support import user_env
from testkit.workers_support import free_port

COMPOSE = REPO / "docker-compose.yml"
OWN_IMAGE = "creature-vis-"  # images this repository builds
PROBE = "/app/probe.py"
DATA_MOUNT = "/data"  # where the app services mount the `data` volume
HEALTH_TIMEOUT = 300.0
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([?-])([^}]*))?\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
# Where a service notes the first start measured by bench/compose_first_start.py.
MEASURED_FIELD = "x-first-start-measured"


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Expand ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` as compose does."""

    def expand(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3) or ""
        found = variables.get(name, "")
        if kind == "?" and not found:
            raise ValueError(f"compose needs {name}: {rest}")
        return found or (rest if kind == "-" else "")

    return _VARIABLE.sub(expand, value)


def duration_seconds(value: str) -> float:
    """A compose duration (``1m30s``, ``10s``, ``500ms``) in seconds."""
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"not a compose duration: {value!r}")
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def health_budget(service: str, compose_file: Path = COMPOSE) -> tuple[float, float | None]:
    """Seconds a service may take to turn healthy, and its measured first start if noted.

    Docker counts no failed check during ``start_period`` and calls the service unhealthy
    after ``retries`` failures in a row, one per ``interval``, so the budget is
    ``start_period + retries * interval``.
    """
    spec = yaml.safe_load(compose_file.read_text())["services"][service]
    check = spec["healthcheck"]
    budget = duration_seconds(check.get("start_period", "0s")) + int(
        check.get("retries", 3)
    ) * duration_seconds(check.get("interval", "30s"))
    measured = spec.get(MEASURED_FIELD, {}).get("seconds")
    return budget, None if measured is None else float(measured)


def env_file_names(path: Path) -> list[str]:
    """The variable names a ``KEY=`` file (docker/compose.env.example) lists."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]


def dockerfile_runtime(path: Path) -> tuple[dict[str, str], list[str]]:
    """The ``ENV`` and ``CMD`` of a Dockerfile's last stage (the image that runs)."""
    text = path.read_text().replace("\\\n", " ")
    last = text[text.rindex("\nFROM ") :]
    env: dict[str, str] = {}
    command: list[str] = []
    for line in last.splitlines():
        keyword, _, rest = line.strip().partition(" ")
        if keyword == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))  # type: ignore[misc]
        elif keyword == "CMD":
            command = json.loads(rest)
    return env, command


@dataclass
class Service:
    """One compose service as a local process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    depends_on: list[str]
    healthcheck: list[str] | None
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    ports: dict[int, int] = field(default_factory=dict)  # container port -> local port

    def log(self) -> str:
        """What the service printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Topology:
    """The compose file's application services, mapped onto this machine."""

    def __init__(
        self,
        root: Path,
        data_dir: Path,
        redis_url: str,
        variables: Mapping[str, str],
        *,
        profiles: tuple[str, ...] = (),
        extra_env: Mapping[str, str] | None = None,
        compose_file: Path = COMPOSE,
    ) -> None:
        self.compose: dict[str, Any] = yaml.safe_load(compose_file.read_text())
        self.root, self.data_dir, self.redis_url = root, data_dir, redis_url
        self.variables, self.profiles = variables, profiles
        self.extra_env = dict(extra_env or {})
        self.services = {name: self._service(name) for name in self.runnable()}

    def runnable(self) -> list[str]:
        """Application services that run here, in ``depends_on`` order.

        Left out: services in a profile not asked for, one-shot jobs (``restart: "no"``),
        and those that depend on a third-party server other than Redis (InfluxDB, Grafana).
        """
        declared: dict[str, Any] = self.compose["services"]
        kept = [
            name
            for name, spec in declared.items()
            if str(spec.get("image", "")).startswith(OWN_IMAGE)
            and set(spec.get("profiles", [])) <= set(self.profiles)
            and spec.get("restart") != "no"
            and all(self._available(dep) for dep in spec.get("depends_on", {}))
        ]
        ordered: list[str] = []
        while len(ordered) < len(kept):
            ready = [n for n in kept if n not in ordered and set(self._deps(n)) <= set(ordered)]
            if not ready:
                raise ValueError(f"depends_on has a cycle among {kept}")
            ordered += ready
        return ordered

    def _available(self, name: str) -> bool:
        image = str(self.compose["services"][name].get("image", ""))
        return image.startswith((OWN_IMAGE, "redis:"))

    def _deps(self, name: str) -> list[str]:
        deps = self.compose["services"][name].get("depends_on", {})
        return [d for d in deps if str(self.compose["services"][d]["image"]).startswith(OWN_IMAGE)]

    def _dockerfile(self, image: str) -> Path:
        for spec in self.compose["services"].values():
            if spec.get("image") == image and "build" in spec:
                return REPO / str(spec["build"]["dockerfile"])
        raise ValueError(f"no service builds {image}")

    def _service(self, name: str) -> Service:
        spec = self.compose["services"][name]
        image_env, image_cmd = dockerfile_runtime(self._dockerfile(spec["image"]))
        ports = {int(p.rsplit(":", 1)[1]): free_port() for p in spec.get("ports", [])}
        env = user_env(PYTHONPATH=str(REPO))
        for key, value in {**image_env, **spec.get("environment", {})}.items():
            if key != "PATH":  # the image's venv; ours is this interpreter's
                env[key] = self._local(interpolate(str(value), self.variables), ports)
        env.update(self.extra_env)
        test = (spec.get("healthcheck") or {}).get("test")
        healthcheck = None if test is None or test[0] != "CMD" else self._argv(test[1:], ports)
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        argv = self._argv(spec.get("command", image_cmd), ports)
        log = home / "service.log"
        return Service(name, argv, env, self._deps(name), healthcheck, log, ports=ports)

    def _local(self, value: str, ports: Mapping[int, int]) -> str:
        """A container value as it must read here."""
        if value == DATA_MOUNT or value.startswith(f"{DATA_MOUNT}/"):
            return str(self.data_dir) + value.removeprefix(DATA_MOUNT)
        if value == "0.0.0.0":  # noqa: S104  (bind here only to this machine)
            return "127.0.0.1"
        if value.isdigit() and int(value) in ports:
            return str(ports[int(value)])
        match = re.fullmatch(r"(\w+)://([\w.-]+):(\d+)(/.*)?", value)
        if match and match.group(2) in self.compose["services"]:
            host = match.group(2)
            if str(self.compose["services"][host]["image"]).startswith("redis:"):
                return self.redis_url
            return f"{match.group(1)}://127.0.0.1:{match.group(3)}{match.group(4) or ''}"
        return value

    def _argv(self, argv: list[str], ports: Mapping[int, int]) -> list[str]:
        mapped: list[str] = []
        for arg in argv:
            local = str(REPO / "docker" / "probe.py") if arg == PROBE else arg
            for inside, here in ports.items():
                local = local.replace(f"127.0.0.1:{inside}/", f"127.0.0.1:{here}/")
            mapped.append(local)
        if mapped[0] == "python":
            return [sys.executable, *mapped[1:]]
        if mapped[0] == "creature-vis":
            return [sys.executable, "-m", "cli.main", *mapped[1:]]
        return mapped

    def start(self) -> None:
        """Start every service once what it depends on is healthy."""
        for service in self.services.values():
            for dep in service.depends_on:
                self.wait_healthy(self.services[dep])
            with service.log_path.open("ab") as log:
                service.process = subprocess.Popen(
                    service.argv, cwd=service.log_path.parent, env=service.env,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip

    def up(self) -> None:
        """Start every service and wait until each is healthy (``docker compose up --wait``)."""
        self.start()
        for service in self.services.values():
            self.wait_healthy(service)

    def wait_healthy(self, service: Service, timeout: float = HEALTH_TIMEOUT) -> None:
        """Run the service's compose healthcheck until it passes; fail if the service exits."""
        if service.healthcheck is None:
            return
        deadline = time.monotonic() + timeout
        while True:
            assert service.process is not None
            code = service.process.poll()
            assert code is None, f"{service.name} exited with {code}:\n{service.log()[-4000:]}"
            home = service.log_path.parent
            check = subprocess.run(service.healthcheck, env=service.env, cwd=home,
                                   capture_output=True, timeout=60, check=False)  # fmt: skip
            if check.returncode == 0:
                return
            assert time.monotonic() < deadline, f"{service.name} never healthy:\n{service.log()}"
            time.sleep(1.0)

    def stop(self) -> None:
        """Stop the services, last started first (SIGTERM, then SIGKILL after 60 s)."""
        for service in reversed(self.services.values()):
            process = service.process
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def logs(self) -> str:
        """The tail of every service's log, for a failure message."""
        return "\n".join(f"--- {s.name}\n{s.log()[-3000:]}" for s in self.services.values())
