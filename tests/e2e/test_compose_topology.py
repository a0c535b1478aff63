"""docker-compose.yml runs the whole loop: photo, answer, forced retrain, promotion, prediction.

No Docker engine runs here, so each application service of the compose file starts its own
command as a local process with its compose environment (testkit/compose.py says what is
mapped: host names, the data volume, ports). Photos of giraffes and deer (labels model v0
cannot give) are answered: one sent to the compose `bot` service on a fake Bot API (the
`worker` service classifies it) and answered with its buttons, the rest sent to the server
over HTTP and answered with POST /v1/feedback. An admin's /retrain in the bot sends the
retrain check to the `training` queue; only a consumer of that queue in the compose file runs
the round, which must promote a new version that the server then predicts with.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from core import tasks
from core.api_keys import issue_key
from core.settings import load_settings
from core.warehouse import open_warehouse
from core.warehouse.records import effective_feedback
from testkit.bot_harness import (
    button_data,
    fake_bot_api,
    keyboard,
    prediction,
    private_redis_url,
    release_redis,
    share_model_cache,
)
from testkit.compose import Topology, env_file_names
from testkit.paths import REPO
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.datasets, pytest.mark.timeout(900)]
ADMIN = User(4001, "Ada")
PERSON = User(4002, "Pat")  # sends a photo to the bot
PER_LABEL = 30  # answers per label: about a dozen held out, a clearly significant gain
ROUND_TIMEOUT = 300.0


def compose_variables(fake: FakeBotApi) -> dict[str, str]:
    """What a filled-in .env holds: the example's names, random secrets, the fake's token."""
    names = env_file_names(REPO / "docker" / "compose.env.example")
    values = dict.fromkeys(names, "")
    values.update({n: secrets.token_hex(16) for n in names if n.endswith(("TOKEN", "PASSWORD"))})
    values["TELEGRAM_BOT_TOKEN"] = fake.token
    values["CREATURE_VIS_BOT__ADMIN_IDS"] = json.dumps([ADMIN.id])  # reaches the bot via compose
    return values


def photos(animals_dev: Path, label: str, count: int) -> list[Path]:
    """Full-size photos of a label (not the 32x32 CIFAR ones)."""
    found = sorted(
        p for p in (animals_dev / label).glob("*.jpg") if not p.name.startswith("cifar_")
    )
    assert len(found) >= count, f"only {len(found)} {label} photos"
    return found[:count]


def call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    """One API call; a 429 waits as long as the server says and tries again."""
    for _ in range(30):
        request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 429:
                raise AssertionError(f"{url}: {exc.code} {exc.read()!r}") from exc
            time.sleep(float(exc.headers.get("Retry-After") or 2))
    raise AssertionError(f"{url}: rate limited throughout")


def predict(server: str, photo: Path) -> dict[str, Any]:
    """POST /v1/predictions with the photo as a multipart upload."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{photo.name}"'
            f"\r\nContent-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    answer: dict[str, Any] = call(f"{server}/v1/predictions", body, headers)
    return answer


def answer(server: str, interaction_id: str, label: str, key: str) -> dict[str, Any]:
    """POST /v1/feedback with API key ``key``: the prediction was wrong, it shows ``label``."""
    body = {"interaction_id": interaction_id, "correct": False, "label": label}
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    result: dict[str, Any] = call(f"{server}/v1/feedback", json.dumps(body).encode(), headers)
    return result


def production(server: str) -> str:
    """The version GET /v1/model reports as production ("v0" before any)."""
    model: dict[str, Any] = call(f"{server}/v1/model")
    return str((model["production"] or {}).get("version", "v0"))


def teach(server: str, taught: list[tuple[Path, str]], key: str) -> None:
    """Send each photo to the server and answer it with its label, as the holder of ``key``."""
    for photo, label in taught:
        shown = predict(server, photo)
        assert shown["model_version"] == "v0"
        assert answer(server, shown["interaction_id"], label, key)["label"] == label


async def teach_through_the_bot(fake: FakeBotApi, photo: Path, label: str) -> None:
    """The person sends the photo to the bot and answers "wrong" and then the label."""
    fake.send_photo(PERSON, photo.read_bytes())
    shown = await prediction(fake, PERSON.id)  # the worker service classified it

    def last() -> dict[str, Any]:
        return fake.bot_messages(PERSON.id)[-1]

    buttons = [text for row in keyboard(shown) for text in row]
    wrong = "❌ Wrong" if "❌ Wrong" in buttons else "❌ None of these"  # one label, or a set
    fake.press(PERSON, shown, button_data(shown, wrong))
    grid = await fake.wait_for(lambda: len(keyboard(last())) == 5 and last())
    fake.press(PERSON, grid, button_data(grid, label.capitalize()))
    await fake.wait_for(lambda: f"it's a {label}" in last()["text"])


def predict_with(server: str, photo: Path, version: str) -> dict[str, Any]:
    """Predict ``photo`` until the server answers with ``version`` (it hot-reloads)."""
    deadline = time.monotonic() + 60
    while (shown := predict(server, photo))["model_version"] != version:
        assert time.monotonic() < deadline, f"still predicting with {shown['model_version']}"
        time.sleep(1.0)
    return shown


def wait_for_promotion(topology: Topology, server: str, url: str) -> str:
    """Wait until production moves off v0; fail saying what the training queue holds."""
    deadline = time.monotonic() + ROUND_TIMEOUT
    while (version := production(server)) == "v0":
        if time.monotonic() > deadline:
            with redis.Redis.from_url(url) as client:
                waiting = client.llen(tasks.TRAINING_QUEUE)
            raise AssertionError(
                f"no promotion within {ROUND_TIMEOUT:.0f}s; {waiting} message(s) waiting on the "
                f"{tasks.TRAINING_QUEUE!r} queue; services run: {sorted(topology.services)}\n"
                + topology.logs()
            )
        time.sleep(1.0)
    return version


async def test_compose_services_take_a_photo_through_a_retrain_to_a_new_version(
    tmp_path: Path, animals_dev: Path
) -> None:
    data_dir = tmp_path / "data"
    share_model_cache(data_dir)
    url = private_redis_url()
    giraffes = photos(animals_dev, "giraffe", PER_LABEL + 1)
    taught = [(p, "giraffe") for p in giraffes[:PER_LABEL]]
    taught += [(p, "deer") for p in photos(animals_dev, "deer", PER_LABEL)]
    async with fake_bot_api() as fake:
        # Only what the fake Bot API needs is added to the compose environment.
        extra = {"CREATURE_VIS_BOT__BASE_URL": fake.base_url,
                 "CREATURE_VIS_BOT__BASE_FILE_URL": fake.base_file_url}  # fmt: skip
        topology = Topology(tmp_path / "services", data_dir, url, compose_variables(fake),
                            profiles=("bot",), extra_env=extra)  # fmt: skip
        try:
            # Blocking work runs in threads: the fake Bot API shares this event loop.
            await asyncio.to_thread(topology.up)
            port = topology.services["model-server"].ports[8080]
            server = f"http://127.0.0.1:{port}"
            assert await asyncio.to_thread(production, server) == "v0"
            await teach_through_the_bot(fake, *taught[0])
            # The operator issues an admin key (as `creature-vis keys create --admin` does):
            # anonymous and new people's answers train but never judge a model, so without
            # it the held-out test set would stay empty and nothing could be promoted.
            warehouse = open_warehouse(load_settings(data_dir=data_dir), create=False)
            key, _ = issue_key(warehouse, note="operator", operator="test", admin=True)
            await asyncio.to_thread(teach, server, taught[1:], key)
            # The worker writes the bot's answer to the warehouse soon after the bot confirms.
            person = f"telegram:{PERSON.id}"
            (answered,) = await fake.wait_for(
                lambda: [row for row in effective_feedback(warehouse) if row["user_id"] == person]
            )
            warehouse.close()
            assert (answered["label"], answered["is_correct"]) == ("giraffe", False)

            fake.send_text(ADMIN, "/retrain")
            await fake.wait_for(lambda: any("I'll tell you" in t for t in fake.texts(ADMIN.id)))
            version = await asyncio.to_thread(wait_for_promotion, topology, server, url)
            assert version == "v1"
            decided = await fake.wait_for(
                lambda: [t for t in fake.texts(ADMIN.id) if t.startswith("Retrain check")]
            )
            assert decided == ["Retrain check fired: retraining starts (forced by an admin)."]

            # The server follows the registry pointer without a restart.
            new = await asyncio.to_thread(predict_with, server, giraffes[PER_LABEL], version)
            assert "giraffe" in [score["label"] for score in new["top3"]], new
        finally:
            await asyncio.to_thread(topology.stop)
            release_redis(url)
