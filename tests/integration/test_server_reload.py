"""Hot reload: moving the production pointer under load changes the served version, no errors."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from core.model.handle import open_registry
from core.settings import Settings
from tests.integration.server_support import (
    colour_factory,
    live_server,
    noisy_photo,
    save_constant_head,
    wait_for,
    with_server,
)

CLIENTS = 6


async def test_promotion_and_rollback_under_load_fail_no_request(settings: Settings) -> None:
    save_constant_head(settings, "zebra", version="v1")
    registry = open_registry(settings)
    seen: list[tuple[str, str, float]] = []  # version, label, when the request was sent
    failures: list[str] = []
    stop = asyncio.Event()

    async def client_loop(client: httpx.AsyncClient, worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            data = noisy_photo((220, 30, 30), worker * 100_000 + n)
            sent = time.monotonic()
            try:
                response = await client.post("/v1/predictions", files={"image": ("p.png", data)})
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code != 200:
                failures.append(response.text)
                continue
            body = response.json()
            seen.append((body["model_version"], body["top3"][0]["label"], sent))

    async def wait_for_version(version: str) -> float:
        """Wait for an answer by ``version`` to a request sent from now on; return when."""
        asked = time.monotonic()
        async with asyncio.timeout(60):
            # An answer to a request sent earlier may arrive late and say nothing of now.
            while not any(v == version and sent > asked for v, _, sent in seen):
                await asyncio.sleep(0.05)
        return time.monotonic()

    # No abuse limits: a run slower than usual to see a swap used up the address's burst.
    unlimited = with_server(settings, requests_per_minute_per_address=0,
                            requests_per_minute_per_session=0)  # fmt: skip
    with live_server(unlimited, colour_factory(reload_seconds=0.2)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            load = [asyncio.create_task(client_loop(client, w)) for w in range(CLIENTS)]
            await wait_for_version("v0")
            await asyncio.to_thread(registry.promote, "v1")
            await wait_for_version("v1")
            model = (await client.get("/v1/model")).json()
            assert model["production"]["version"] == "v1" and model["serving"] == "v1"
            assert model["production"]["metrics"] == {"accuracy": 0.5}
            assert model["production"]["parent_version"] == "v0"
            await asyncio.to_thread(registry.rollback)
            rolled_back = await wait_for_version("v0")
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*load)
            metrics = (await client.get("/metrics")).text
    assert failures == []
    answers = Counter((version, label) for version, label, _ in seen)
    assert set(answers) == {("v0", "dog"), ("v1", "zebra")}, answers
    # Answers to requests sent before the swap may arrive after it; none sent later is v1.
    assert {version for version, _, sent in seen if sent > rolled_back} == {"v0"}
    assert 'creature_vis_model_info{version="v0"} 1.0' in metrics
    assert 'creature_vis_model_info{version="v1"}' not in metrics


def test_the_start_up_hook_runs_once_though_the_model_loads_again(settings: Settings) -> None:
    save_constant_head(settings, "zebra", version="v1")
    registry = open_registry(settings)
    ready: list[str | None] = []  # the entry point settles the heap there (core.heap)

    def on_ready() -> None:
        ready.append(registry.production())

    with live_server(settings, colour_factory(reload_seconds=0.05), on_ready) as server:
        wait_for(lambda: ready == ["v0"], timeout=60, what="the start-up hook")
        registry.promote("v1")
        with server.client() as client:
            wait_for(
                lambda: client.get("/v1/model").json()["serving"] == "v1",
                timeout=60,
                what="v1 to be served",
            )
    assert ready == ["v0"]
