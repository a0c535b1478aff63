"""Predictions are written behind their answers: what comes next still finds them.

An answer about an interaction whose row is not written yet, and a "Forget me" while photos
are queued, must behave as if the rows were there; a session forgotten while its photo is in
the model gets no answer and leaves nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest

from core.settings import Settings
from core.storage import open_store
from core.warehouse import open_warehouse
from model_server.prediction_log import LoggedPrediction, PredictionLog
from model_server.state import SESSION_COOKIE
from tests.integration.server_support import (
    ColourEngine,
    LiveServer,
    colour_factory,
    live_server,
    noisy_photo,
    with_server,
)

RED = (220, 30, 30)


class HeldRounds:
    """Holds the log's rounds until released; tells when a request starts to wait on it."""

    def __init__(self, log: PredictionLog) -> None:
        self.write = log.write
        self.release = threading.Event()
        self.waiting = threading.Event()
        log.write = self.hold
        for name in ("settle", "flush"):
            setattr(log, name, self.noticed(getattr(log, name)))

    def hold(self, entries: Sequence[LoggedPrediction]) -> None:
        self.release.wait(timeout=60)
        self.write(entries)

    def noticed(self, wait: Callable[..., None]) -> Callable[..., None]:
        def noticing(*args: Any) -> None:
            self.waiting.set()
            wait(*args)

        return noticing


def in_thread(call: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
    """Start ``call`` on a thread; return what waits for its response."""
    result: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()

    def response() -> httpx.Response:
        thread.join(timeout=60)
        return result[0]

    return response


def predict(client: httpx.Client, seed: int) -> httpx.Response:
    data = noisy_photo(RED, seed)
    return client.post("/v1/predictions", files={"image": ("p.png", data, "image/png")})


def rows_of(settings: Settings, user_id: str) -> dict[str, int]:
    warehouse = open_warehouse(settings)
    return {
        table: len(warehouse.query(
            f"SELECT 1 FROM {table} WHERE user_id = @u", {"u": user_id}))  # noqa: S608
        for table in ("images", "interactions", "feedback")
    }  # fmt: skip


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings, colour_factory()) as running:
        yield running


def web_user(server: LiveServer, client: httpx.Client) -> str:
    client.get("/")
    user = server.app.state.server.identity.web_user(client.cookies[SESSION_COOKIE])
    assert user is not None
    return str(user)


def test_an_answer_before_its_row_is_written_is_recorded(
    server: LiveServer, settings: Settings
) -> None:
    held = HeldRounds(server.app.state.server.prediction_log)
    with server.client() as client:
        user = web_user(server, client)
        predicted = predict(client, 1)
        assert predicted.status_code == 200, predicted.text
        assert rows_of(settings, user)["interactions"] == 0  # answered, not written yet
        body = {"interaction_id": predicted.json()["interaction_id"], "label": "lion"}
        answered = in_thread(lambda: client.post("/v1/feedback", json=body))
        assert held.waiting.wait(timeout=30), "the answer did not wait for its row"
        held.release.set()
        response = answered()
    assert response.status_code == 200, response.text
    assert response.json()["predicted_label"] == "dog"
    assert rows_of(settings, user) == {"images": 1, "interactions": 1, "feedback": 1}


def test_forget_me_covers_predictions_not_written_yet(
    server: LiveServer, settings: Settings
) -> None:
    held = HeldRounds(server.app.state.server.prediction_log)
    with server.client() as client:
        user = web_user(server, client)
        assert predict(client, 2).status_code == 200
        assert predict(client, 3).status_code == 200
        forgot = in_thread(lambda: client.post("/v1/forget"))
        assert held.waiting.wait(timeout=30), "forgetting did not wait for the log"
        held.release.set()
        response = forgot()
    assert response.status_code == 200, response.text
    assert (response.json()["photos"], response.json()["predictions"]) == (2, 2)
    server.written()
    assert rows_of(settings, user) == {"images": 0, "interactions": 0, "feedback": 0}
    assert open_store(settings).list("images/") == []


def test_a_session_forgotten_while_its_photo_is_in_the_model_gets_no_answer(
    settings: Settings,
) -> None:
    gate = threading.Event()
    engine = ColourEngine(gate=gate)
    with live_server(settings, colour_factory(engine)) as server, server.client() as client:
        user = web_user(server, client)
        gate.set()
        assert predict(client, 4).status_code == 200  # the model is loaded and warm
        assert client.post("/v1/forget").status_code == 200
        user = web_user(server, client)  # the new session the forget handed out
        gate.clear()
        engine.entered.clear()
        predicting = in_thread(lambda: predict(client, 5))
        assert engine.entered.wait(timeout=30)
        assert client.post("/v1/forget").status_code == 200
        gate.set()
        response = predicting()
        server.written()
    assert response.status_code == 409 and response.json()["error"] == "forgotten"
    assert rows_of(settings, user) == {"images": 0, "interactions": 0, "feedback": 0}
    assert open_store(settings).list("images/") == []


def test_answers_wait_for_their_own_rows_once_the_log_is_far_behind(settings: Settings) -> None:
    unlimited = with_server(settings, requests_per_minute_per_address=0)
    with live_server(unlimited, colour_factory()) as server, server.client() as client:
        log = server.app.state.server.prediction_log
        held = HeldRounds(log)
        for seed in range(log.max_backlog):  # answered while the log's round is held
            assert predict(client, 100 + seed).status_code == 200
        assert not held.waiting.is_set()
        over = in_thread(lambda: predict(client, 99))
        assert held.waiting.wait(timeout=30), "the answer past the backlog did not wait"
        held.release.set()
        response = over()
    assert response.status_code == 200, response.text
    warehouse = open_warehouse(settings)
    (row,) = warehouse.query(
        "SELECT COUNT(*) AS n FROM interactions WHERE interaction_id = @id",
        {"id": response.json()["interaction_id"]},
    )
    assert row["n"] == 1  # written before it was answered
