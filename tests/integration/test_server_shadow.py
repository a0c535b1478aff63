"""The server feeds retraining: staged versions predict in shadow, features are cached.

A live uvicorn server with the real registry, handle and classifier on a colour backbone:
a challenger is staged, people send photos and correct the answers, the staging review
promotes the challenger from the logged shadow labels, and a retrain finds every photo's
features cached (its backbone is never opened).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.model.classifier import compute_features
from core.model.handle import ModelHandle, open_registry
from core.model.preprocess import decode
from core.model.runtime import Engine
from core.settings import Settings
from core.storage import ImageStore, open_store
from core.warehouse import open_warehouse
from model_server.model import ModelFactory
from retraining.loop import features_of, retrain
from retraining.resources import open_resources
from tests.integration.server_support import (
    ColourEngine,
    LiveServer,
    live_server,
    noisy_photo,
    save_constant_head,
)

RED = (220, 30, 30)
REQUESTS = 4


def staging_settings(settings: Settings) -> Settings:
    """Settings with staging on and a loose test that two clear answers decide."""
    promotion = settings.promotion.model_copy(
        update={"staging": True, "staging_alpha": 0.3, "staging_effect": 0.45}
    )
    return settings.model_copy(update={"promotion": promotion})


def shadowing_factory(engine: ColourEngine) -> ModelFactory:
    """The real registry and handle (staging as the settings say) on a colour backbone."""

    def build(settings: Settings, store: ImageStore) -> ModelHandle:
        registry = open_registry(settings, store)
        return ModelHandle(registry, lambda: engine, 0.2, staging=settings.promotion.staging)

    return build


def no_backbone() -> Engine:
    raise AssertionError("retraining ran the backbone on a photo the server had predicted")


def predict(server: LiveServer, data: bytes) -> dict[str, Any]:
    with server.client() as client:
        response = client.post("/v1/predictions", files={"image": ("p.png", data, "image/png")})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def answer(server: LiveServer, interaction_id: str, label: str) -> None:
    body = {"interaction_id": interaction_id, "correct": False, "label": label}
    with server.client() as client:
        assert client.post("/v1/feedback", json=body).status_code == 200


def test_staged_version_shadows_gets_promoted_and_retraining_reuses_features(
    settings: Settings,
) -> None:
    settings = staging_settings(settings)
    save_constant_head(settings, "cat", version="v1")
    open_registry(settings).stage("v1")
    engine = ColourEngine()
    with live_server(settings, shadowing_factory(engine)) as server:
        bodies = [predict(server, noisy_photo(RED, seed)) for seed in range(REQUESTS)]
        for body in bodies[:2]:  # the red photos were of cats: the staged model was right
            answer(server, body["interaction_id"], "cat")
    assert all(b["model_version"] == "v0" and b["top3"][0]["label"] == "dog" for b in bodies)
    assert all("shadow" not in str(b) and "v1" not in str(b) for b in bodies)  # never shown
    warehouse = open_warehouse(settings)
    rows = warehouse.query("SELECT * FROM interactions ORDER BY created_at")
    assert [(r["shadow_version"], r["shadow_label"]) for r in rows] == [("v1", "cat")] * REQUESTS

    res = open_resources(settings, engine=no_backbone)
    image_ids = [str(b["image_id"]) for b in bodies]
    cached = features_of(res, image_ids)
    photos = [decode(open_store(settings).get(f"images/{i[:2]}/{i}.png")) for i in image_ids]
    expected = compute_features(ColourEngine(), photos)
    np.testing.assert_array_equal(cached.embeddings, expected.embeddings)
    np.testing.assert_array_equal(cached.taxonomy_log_probs, expected.taxonomy_log_probs)

    outcome = retrain(res, settings)  # the staging review runs first, then the trigger check
    assert res.registry.production() == "v1" and res.registry.staging() is None
    assert outcome.production == "v1"
    (event,) = warehouse.query(
        "SELECT * FROM retrain_events WHERE STARTS_WITH(rule, 'staging review')"
    )
    assert event["kind"] == "promote" and event["model_version"] == "v1"
    assert '"shadow_agreement": 1.0' in event["details_json"]
    assert '"production_agreement": 0.0' in event["details_json"]
    assert '"shadow_only_right": 2' in event["details_json"]
    assert '"decision": "promote"' in event["details_json"]


def test_without_staging_the_server_logs_no_shadow(settings: Settings) -> None:
    save_constant_head(settings, "cat", version="v1")
    open_registry(settings).stage("v1")  # staged, but this deployment has staging off
    with live_server(settings, shadowing_factory(ColourEngine())) as server:
        body = predict(server, noisy_photo(RED, 1))
    (row,) = open_warehouse(settings).query("SELECT * FROM interactions")
    assert body["model_version"] == "v0"
    assert (row["shadow_version"], row["shadow_label"]) == (None, None)
