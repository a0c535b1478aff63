"""Who answered, on a live server: keys issued and revoked by the CLI, signed sessions, anonymity.

The CLI runs as its own process beside the server, as an admin would run it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from core.api_keys import PREFIX, issue_key
from core.settings import Settings
from core.warehouse import open_warehouse
from model_server.identity import Identity, session_secret
from model_server.state import SESSION_COOKIE
from tests.conftest import REPO
from tests.integration.server_support import (
    LiveServer,
    colour_factory,
    live_server,
    noisy_photo,
    with_server,
)

CACHE_SECONDS = 1.0


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with live_server(
        with_server(settings, api_key_cache_seconds=CACHE_SECONDS), colour_factory()
    ) as running:
        yield running


def keys(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``creature-vis keys ...`` as a separate process on the same data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREATURE_VIS_")}
    env["CREATURE_VIS_DATA_DIR"] = str(settings.data_dir)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "keys", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def predict(client: httpx.Client, seed: int, **headers: str) -> httpx.Response:
    photo = noisy_photo((220, 30, 30), seed)
    return client.post("/v1/predictions", files={"image": ("p.png", photo, "image/png")},
                       headers=headers)  # fmt: skip


def answer(client: httpx.Client, interaction_id: str, **headers: str) -> httpx.Response:
    body = {"interaction_id": interaction_id, "correct": False, "label": "giraffe"}
    return client.post("/v1/feedback", json=body, headers=headers)


def who(settings: Settings, table: str) -> list[tuple[str, str]]:
    rows = open_warehouse(settings).query(
        f"SELECT channel, user_id FROM {table} ORDER BY created_at"  # noqa: S608  (a constant)
    )
    return [(row["channel"], row["user_id"]) for row in rows]


def test_a_key_from_the_cli_names_its_holder_until_it_is_revoked(
    server: LiveServer, settings: Settings
) -> None:
    made = keys(settings, "create", "Ada, survey app")
    assert made.returncode == 0, made.stderr
    key = re.search(r"key:\s+(cvk_\S+)", made.stdout).group(1)  # type: ignore[union-attr]
    key_id = re.search(r"key id: (\w+)", made.stdout).group(1)  # type: ignore[union-attr]
    with server.client() as client:
        predicted = predict(client, 1, Authorization=f"Bearer {key}")
        assert predicted.status_code == 200, predicted.text
        interaction = predicted.json()["interaction_id"]
        assert answer(client, interaction, **{"X-API-Key": key}).status_code == 200
        listed = keys(settings, "list")
        assert re.search(rf"^{key_id}\s+person\s+active\s.*Ada, survey app$", listed.stdout, re.M)
        # The secret is everything after the id; it may itself hold "_".
        secret = key.removeprefix(f"{PREFIX}{key_id}_")
        assert key not in listed.stdout and secret not in listed.stdout

        revoked = keys(settings, "revoke", key_id)
        assert revoked.returncode == 0 and f"revoked {key_id}" in revoked.stdout
        # The server believes a lookup for api_key_cache_seconds: past that, the key is dead.
        time.sleep(CACHE_SECONDS)
        refused = predict(client, 2, Authorization=f"Bearer {key}")
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_api_key"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer(client, interaction, **{"X-API-Key": key}).status_code == 401
    person = f"key:{key_id}"
    assert who(settings, "interactions") == [("api", person)]
    assert who(settings, "feedback") == [("api", person)]
    assert re.search(rf"^{key_id}\s+person\s+revoked\s", keys(settings, "list").stdout, re.M)
    assert keys(settings, "revoke", "000000000000").returncode == 1


def test_an_admin_key_answers_as_an_admin(server: LiveServer, settings: Settings) -> None:
    made = keys(settings, "create", "--admin", "the operator")
    assert made.returncode == 0 and "an admin" in made.stdout, made.stderr
    admin_key = re.search(r"key:\s+(cvk_\S+)", made.stdout).group(1)  # type: ignore[union-attr]
    person_key, _ = issue_key(open_warehouse(settings), note="Bo", operator="test")
    with server.client() as client:
        for key in (admin_key, person_key):
            interaction = predict(client, 3, **{"X-API-Key": key}).json()["interaction_id"]
            assert answer(client, interaction, **{"X-API-Key": key}).status_code == 200
    rows = open_warehouse(settings).query("SELECT user_id, is_admin FROM feedback")
    admin_id = re.search(r"key id: (\w+)", made.stdout).group(1)  # type: ignore[union-attr]
    by_user = {row["user_id"]: bool(row["is_admin"]) for row in rows}
    assert by_user.pop(f"key:{admin_id}") is True
    assert list(by_user.values()) == [False]
    assert re.search(rf"^{admin_id}\s+admin\s+active\s", keys(settings, "list").stdout, re.M)


def test_unknown_malformed_and_non_bearer_keys_are_refused(server: LiveServer) -> None:
    with server.client() as client:
        for headers in (
            {"Authorization": "Bearer cvk_0123456789ab_" + "x" * 43},  # well-formed, never issued
            {"Authorization": "Bearer letmein"},
            {"Authorization": "Basic YWRhOmFkYQ=="},
            {"X-API-Key": "letmein"},
        ):
            response = predict(client, 3, **headers)
            assert response.status_code == 401, headers
            assert "API key is not valid" in response.json()["message"]


def test_a_body_cannot_say_who_answers(server: LiveServer, settings: Settings) -> None:
    with server.client() as client:
        interaction = predict(client, 4).json()["interaction_id"]
        body = {"interaction_id": interaction, "correct": True, "user_id": "telegram:1"}
        refused = client.post("/v1/feedback", json=body)
        assert refused.status_code == 422
        assert refused.json()["error"] == "user_id_not_accepted"
        assert "API key" in refused.json()["message"]
        openapi = client.get("/openapi.json").json()
    schema = openapi["components"]["schemas"]["FeedbackBody"]
    assert schema["properties"]["user_id"]["deprecated"] is True
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer" and schemes["APIKeyHeader"]["in"] == "header"
    assert {"HTTPBearer": []} in openapi["paths"]["/v1/feedback"]["post"]["security"]
    assert who(settings, "feedback") == []


def test_forged_and_tampered_cookies_are_not_sessions(
    server: LiveServer, settings: Settings
) -> None:
    identity = Identity(session_secret(settings))
    with server.client() as client:
        client.get("/")
        cookie = client.cookies[SESSION_COOKIE]
    with server.client(cookies={SESSION_COOKIE: cookie}) as client:
        assert SESSION_COOKIE not in client.get("/").cookies  # a genuine session is kept
    session, _, signature = cookie.partition(".")
    forgeries = [
        f"{session}.{signature[::-1]}",
        session,  # unsigned, as sessions used to be
        Identity(b"someone else's secret").new_cookie(),
    ]
    for n, forged in enumerate(forgeries):
        with server.client(cookies={SESSION_COOKIE: forged}) as client:
            page = client.get("/")
            issued = page.cookies[SESSION_COOKIE]
            assert issued != forged and identity.web_user(issued) is not None  # a new session
        with server.client(cookies={SESSION_COOKIE: forged}) as client:
            assert predict(client, 10 + n).status_code == 200
            assert client.post("/v1/forget").json()["error"] == "no_session"
        assert page.status_code == 200
    server.written()
    users = who(settings, "interactions")
    assert [channel for channel, _ in users] == ["api"] * 3  # anonymous, not a web session
    assert all(user.startswith("api:") for _, user in users)
    assert session not in str(users)


def test_anonymous_callers_still_count_one_per_address_with_a_rate(settings: Settings) -> None:
    strict = with_server(settings, requests_per_minute_per_address=3, trusted_proxies=1)
    with live_server(strict, colour_factory()) as running, running.client() as client:
        first = {"X-Forwarded-For": "203.0.113.7"}
        interaction = predict(client, 20, **first).json()["interaction_id"]
        assert answer(client, interaction, **first).status_code == 200
        assert predict(client, 21, **first).status_code == 200
        refused = predict(client, 22, **first)
        assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
        other = predict(client, 23, **{"X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 200
    interactions = who(settings, "interactions")
    assert len(interactions) == 3 and len({user for _, user in interactions}) == 2
    assert interactions[0] == interactions[1] and "203.0.113.7" not in str(interactions)
    (feedback,) = who(settings, "feedback")
    assert feedback == interactions[0]  # the anonymous answer is recorded, under its address


def test_a_key_holder_can_be_forgotten(server: LiveServer, settings: Settings) -> None:
    key, record = issue_key(open_warehouse(settings), note="Eve", operator="test")
    with server.client(headers={"X-API-Key": key}) as client:
        assert predict(client, 30).status_code == 200
        forgotten = client.post("/v1/forget")
        assert forgotten.status_code == 200, forgotten.text
        assert forgotten.json()["photos"] == 1 and forgotten.json()["predictions"] == 1
        assert SESSION_COOKIE not in forgotten.cookies  # a key holder gets no web session
    assert record.user_id not in str(who(settings, "interactions"))
