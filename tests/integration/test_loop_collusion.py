"""A colluding attack through the real server leaves the held-out test set untouched.

Two Telegram people (their answers written as the bot's worker writes them) label 40 photos
alike; five colluders, through ``POST /v1/feedback`` on the live server, all give the same
wrong label to 12 of them, which under the old per-user record made a "consensus" fit to
judge models. The colluders are five web sessions, or five holders of API keys an admin
issued (each a person of their own). The round's curation must keep every test photo's true
label. Sessions weigh as one anonymous annotator, so the honest people's labels still judge
models; five keyed people outnumber the two honest ones on the attacked photos, so neither
side is established and nothing judges this round: the attack can stall promotion, not steer
it (their majority does train, within the per-person caps).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.api_keys import issue_key
from core.labels import VALID_LABELS
from core.settings import CurationSettings, Settings
from core.warehouse import open_warehouse
from core.warehouse.records import record_feedback
from retraining import datasets
from retraining.curation import CurationConfig
from retraining.loop import prepare
from retraining.resources import open_resources
from retraining.snapshot import read_snapshot
from tests.integration.server_support import (
    ColourEngine,
    LiveServer,
    colour_factory,
    live_server,
    noisy_photo,
)

PHOTOS = 40
ATTACKED = 12
COLLUDERS = 5
HONEST = ("telegram:101", "telegram:102")


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings, colour_factory()) as running:
        yield running


def truth(n: int) -> str:
    return VALID_LABELS[n % len(VALID_LABELS)]


@pytest.mark.parametrize("colluders", ["sessions", "keys"])
def test_colluders_do_not_reach_the_test_set(
    server: LiveServer, settings: Settings, colluders: str
) -> None:
    interactions = []
    with server.client() as client:
        for n in range(PHOTOS):
            data = noisy_photo((40 + 5 * n, 120, 200 - 4 * n), seed=n)
            response = client.post("/v1/predictions", files={"image": ("p.png", data, "image/png")})
            assert response.status_code == 200, response.text
            interactions.append(str(response.json()["interaction_id"]))
    server.written()
    warehouse = open_warehouse(settings)
    for n, interaction in enumerate(interactions):
        for person in HONEST:
            record_feedback(warehouse, interaction_id=interaction, user_id=person, correct=False,
                            label=truth(n), channel="telegram")  # fmt: skip
    lie = {n: truth(n + 1) for n in range(ATTACKED)}
    for c in range(COLLUDERS):
        headers = {}
        if colluders == "keys":
            key, _ = issue_key(warehouse, note=f"colluder {c}", operator="test")
            headers = {"X-API-Key": key}
        with server.client() as session:  # a fresh cookie jar: a separate session each
            if colluders == "sessions":
                assert session.get("/").status_code == 200
            for n, label in lie.items():
                answer = {"interaction_id": interactions[n], "correct": False, "label": label}
                sent = session.post("/v1/feedback", json=answer, headers=headers)
                assert sent.status_code == 200, sent.text
    who = {r["user_id"] for r in warehouse.query("SELECT user_id FROM feedback")} - set(HONEST)
    prefix = "web:" if colluders == "sessions" else "key:"
    assert len(who) == COLLUDERS and all(s.startswith(prefix) for s in who)

    resources = open_resources(settings, engine=ColourEngine)
    curation = CurationSettings(test_fraction=0.5)
    prepared = prepare(resources, read_snapshot(resources.warehouse, resources.store),
                       CurationConfig.from_settings(curation),
                       datasets.SplitPolicy.from_settings(curation))  # fmt: skip
    assert prepared is not None
    train, test = prepared
    rows = warehouse.query("SELECT interaction_id, image_id FROM interactions")
    image_of = {r["interaction_id"]: r["image_id"] for r in rows}
    true_label = {image_of[i]: truth(n) for n, i in enumerate(interactions)}
    if colluders == "sessions":
        assert test.examples, "the honest people's labels should judge models"
    else:  # neither side established: nothing may judge, rather than the majority's lie
        assert not test.examples
    assert all(e.label == true_label[e.image_id] for e in test.examples)
    assert all(e.source == "trusted" for e in test.examples)
    attacked = {image_of[interactions[n]] for n in lie}
    if colluders == "sessions":  # one anonymous annotator does not outvote two people
        assert all(
            e.label == true_label[e.image_id] for e in train.examples if e.image_id in attacked
        )
