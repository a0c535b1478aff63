"""Abuse limits on a live server: per address, per session, stored bytes; 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from core.settings import Settings
from model_server.abuse import Buckets
from model_server.state import SESSION_COOKIE
from tests.integration.server_support import (
    LiveServer,
    colour_factory,
    live_server,
    noisy_photo,
    with_server,
)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    strict = with_server(settings, requests_per_minute_per_address=4,
                     requests_per_minute_per_session=2, trusted_proxies=1)  # fmt: skip
    with live_server(strict, colour_factory()) as running:
        yield running


def predict(client: httpx.Client, seed: int, **headers: str) -> httpx.Response:
    photo = noisy_photo((220, 30, 30), seed)
    return client.post("/v1/predictions", files={"image": ("p.jpg", photo, "image/jpeg")},
                       headers=headers)  # fmt: skip


def test_an_address_past_its_rate_waits_and_others_do_not(server: LiveServer) -> None:
    with server.client() as client:
        first = [predict(client, n, **{"X-Forwarded-For": "203.0.113.7"}) for n in range(4)]
        assert [r.status_code for r in first] == [200] * 4
        refused = predict(client, 9, **{"X-Forwarded-For": "203.0.113.7"})
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 15  # a token per 15 s
        assert "wait" in refused.json()["message"]
        # Another caller is not held back, and a forged first hop does not make a new one:
        # only the hop the trusted proxy appended counts.
        assert predict(client, 10, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 200
        forged = predict(client, 11, **{"X-Forwarded-For": "10.9.9.9, 203.0.113.7"})
        assert forged.status_code == 429


def test_a_session_has_a_rate_of_its_own(server: LiveServer) -> None:
    with server.client() as client:
        client.get("/")  # the page signs a session
        assert SESSION_COOKIE in client.cookies
        codes = [predict(client, n, **{"X-Forwarded-For": "192.0.2.1"}).status_code
                 for n in range(3)]  # fmt: skip
    assert codes == [200, 200, 429]


def test_stored_bytes_per_day_are_capped(settings: Settings) -> None:
    with live_server(with_server(settings, stored_mb_per_day=1), colour_factory()) as running:
        big = noisy_photo((30, 200, 40), 1, size=(500, 400))
        assert 300_000 < len(big) < 1_000_000
        with running.client() as client:
            codes = []
            for n in range(4):
                photo = noisy_photo((30, 200, 40), n, size=(500, 400))
                files = {"image": ("p.jpg", photo, "image/jpeg")}
                codes.append(client.post("/v1/images", files=files).status_code)
            refused = client.post("/v1/images", files={"image": ("p.jpg", big, "image/jpeg")})
    assert codes[:2] == [201, 201] and 429 in codes
    assert "try again in" in refused.json()["message"] and int(refused.headers["Retry-After"]) > 60


def test_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    buckets = Buckets(limit=2, window=10, clock=lambda: now[0])
    assert buckets.take("a") == 0 and buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(5.0)  # one token per 5 s
    now[0] = 5.0
    assert buckets.take("a") == 0 and buckets.take("a") == pytest.approx(5.0)
    assert buckets.take("b") == 0
    assert Buckets(limit=0, window=10).take("a", 10**9) == 0  # 0 means no limit
    big = Buckets(limit=5, window=10, clock=lambda: now[0])
    assert big.take("a", 50) == 0  # larger than the bucket: allowed when full...
    assert big.take("a", 1) > 0  # ...and then owed
