"""The server with the real production model (LiteRT MobileNetV2 from the shared cache)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from core.model.handle import open_registry
from core.settings import Settings
from tests.integration.server_support import (
    live_server,
    real_photo,
    save_constant_head,
    shared_cache_settings,
)

pytestmark = [pytest.mark.model, pytest.mark.datasets]


@pytest.fixture
def real_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The real backbone from the shared cache (``settings`` cleans the environment)."""
    return shared_cache_settings(tmp_path / "real-var", model={"reload_seconds": 0.5})


async def test_real_photos_are_classified_and_a_promotion_is_served(
    real_settings: Settings, animals_dev: Path
) -> None:
    photos = {label: real_photo(animals_dev, label).read_bytes() for label in ("dog", "zebra")}
    with live_server(real_settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:

            async def predict(label: str) -> dict[str, object]:
                files = {"image": (f"{label}.jpg", photos[label], "image/jpeg")}
                response = await client.post("/v1/predictions", files=files)
                assert response.status_code == 200, response.text
                body: dict[str, object] = response.json()
                return body

            answers = await asyncio.gather(*(predict(label) for label in ("dog", "zebra") * 4))
            assert [a["top3"][0]["label"] for a in answers] == ["dog", "zebra"] * 4  # type: ignore[index]
            assert {a["model_version"] for a in answers} == {"v0"}
            save_constant_head(real_settings, "giraffe", version="v1")
            await asyncio.to_thread(open_registry(real_settings).promote, "v1")
            async with asyncio.timeout(60):
                while (answer := await predict("dog"))["model_version"] != "v1":
                    await asyncio.sleep(0.1)
            assert answer["top3"][0]["label"] == "giraffe"  # type: ignore[index]
