"""Micro-batching: concurrent requests share one model call; the event loop stays free."""

from __future__ import annotations

import asyncio
import re
import threading

import httpx

from core.settings import Settings
from core.warehouse import open_warehouse
from tests.integration.server_support import ColourEngine, colour_factory, live_server, noisy_photo

COLOURS = {"dog": (220, 30, 30), "cat": (30, 200, 40), "bird": (20, 40, 220)}


def _queue_depth(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    match = re.search(r"^creature_vis_model_queue_depth (\S+)$", text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


async def _post(client: httpx.AsyncClient, data: bytes) -> httpx.Response:
    return await client.post("/v1/predictions", files={"image": ("p.png", data, "image/png")})


async def test_waiting_requests_share_model_calls_and_get_their_own_answers(
    settings: Settings,
) -> None:
    gate = threading.Event()
    engine = ColourEngine(gate=gate)
    small_batches = settings.model_copy(
        update={"server": settings.server.model_copy(update={"batch_max": 8})}
    )
    with live_server(small_batches, colour_factory(engine)) as server, server.client() as probe:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            first = asyncio.create_task(_post(client, noisy_photo(COLOURS["dog"], 0)))
            await asyncio.to_thread(engine.entered.wait, 30)
            # While the model is busy, the server still answers and keeps accepting photos.
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/v1/labels")).status_code == 200
            assert not first.done()
            expected = [list(COLOURS)[i % 3] for i in range(12)]
            tasks = [
                asyncio.create_task(_post(client, noisy_photo(COLOURS[label], i + 1)))
                for i, label in enumerate(expected)
            ]
            while await asyncio.to_thread(_queue_depth, probe) < len(tasks):
                await asyncio.sleep(0.05)
            gate.set()
            responses = await asyncio.gather(first, *tasks)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert responses[0].json()["top3"][0]["label"] == "dog"
    assert [r.json()["top3"][0]["label"] for r in responses[1:]] == expected
    assert len({r.json()["interaction_id"] for r in responses}) == 13
    # One call for the first photo, then the 12 waiting ones in batches of at most 8.
    assert engine.calls == [1, 8, 4]


async def test_model_failure_is_a_503_for_every_waiting_request(settings: Settings) -> None:
    class Broken(ColourEngine):
        def run(self, batch):  # type: ignore[no-untyped-def]
            raise RuntimeError("backbone crashed")

    with live_server(settings, colour_factory(Broken())) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            responses = await asyncio.gather(
                *(_post(client, noisy_photo(COLOURS["cat"], i)) for i in range(4))
            )
            health = await client.get("/healthz")
    assert {r.status_code for r in responses} == {503}
    assert {r.json()["error"] for r in responses} == {"model_unavailable"}
    assert health.status_code == 200
    warehouse = open_warehouse(settings)
    assert warehouse.query("SELECT COUNT(*) AS n FROM interactions")[0]["n"] == 0
    assert warehouse.query("SELECT COUNT(*) AS n FROM images")[0]["n"] == 0
    # Each failure is counted for the system-health dashboard's "errors by component".
    errors = warehouse.query("SELECT value, labels_json FROM metric_points")
    assert len(errors) >= 1  # points in the same second and labels share one id
    assert {e["labels_json"] for e in errors} == {
        '{"component": "model_server", "error": "model_unavailable"}'
    }
