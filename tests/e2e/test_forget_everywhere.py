"""/forget and "Forget me" forget everything, in the system `make run` starts.

Alice sends photos to the bot and a browser sends photos on the page; both answer, and an
admin's /retrain puts their photos into a dataset version. Then Alice sends /forget and the
browser presses "Forget me". Afterwards none of their image ids or perceptual hashes is in the
store (names or contents), the warehouse, Redis (Celery messages decoded), any manifest or the
feature cache, and the retrain that runs next (on Bob's new answer) leaves them out too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from playwright.sync_api import Browser, expect, sync_playwright

from core.settings import Settings
from core.warehouse import TABLES, open_warehouse
from model_server.identity import Identity, session_secret
from model_server.state import SESSION_COOKIE
from testkit.bot_harness import button_data, fake_bot_api, prediction, share_model_cache
from testkit.run_support import start_run, user_env, wait_ready
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User
from testkit.workers_support import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.datasets, pytest.mark.timeout(900)]
CHROMIUM = Path("/usr/bin/chromium")
ALICE, BOB, ADA = User(3001, "Alice"), User(3002, "Bob"), User(3009, "Ada")
T = TypeVar("T")


class BrowserThread:
    """Headless Chromium driven from one thread of its own (Playwright's sync API runs an
    event loop of its own, which may not share the test's thread)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="chromium")
        self.playwright: Any = None
        self.browser: Browser | None = None

    async def do(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self.pool.submit(function, *args))

    def launch(self) -> Browser:
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        return self.browser

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
        if self.playwright is not None:
            self.playwright.stop()


@pytest.fixture
async def chromium() -> AsyncIterator[BrowserThread]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    thread = BrowserThread()
    await thread.do(thread.launch)
    yield thread
    await thread.do(thread.close)
    thread.pool.shutdown()


def photos(animals_dev: Path, label: str, count: int, skip: int = 0) -> list[Path]:
    return sorted((animals_dev / label).glob("*.jpg"))[skip : skip + count]


async def answer_in_telegram(fake: FakeBotApi, user: User, photo: Path, label: str, n: int) -> None:
    """Send a photo, press ❌ and pick ``label`` (the n-th prediction in this chat)."""
    fake.send_photo(user, photo.read_bytes())
    shown = await prediction(fake, user.id, count=n)
    fake.press(user, shown, button_data(shown, "❌ Wrong"))
    grid = await fake.wait_for(lambda: _with_button(fake, user, label.capitalize()))
    fake.press(user, grid, button_data(grid, label.capitalize()))
    await fake.wait_for(lambda: "Recorded" in str(fake.bot_messages(user.id)[-1].get("text")))


def _with_button(fake: FakeBotApi, user: User, text: str) -> dict[str, Any] | None:
    last = fake.bot_messages(user.id)[-1]
    rows = last.get("reply_markup", {}).get("inline_keyboard", [])
    return last if any(b["text"] == text for row in rows for b in row) else None


def answer_on_the_page(browser: Browser, url: str, files: list[Path]) -> Any:
    """Send each photo on the page and confirm it; return the page (still open).

    The page's visitor is anonymous: a correction of theirs against the model would not be
    trained on, a confirmation is (and so reaches the dataset version forgetting must edit).
    """
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    for file in files:
        page.set_input_files("#file-input", str(file))
        expect(page.locator("#prediction")).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Yes, correct").click()
        expect(page.locator("#thanks")).to_contain_text("right")
    return page


def traces(settings: Settings, people: list[str]) -> tuple[set[str], set[str]]:
    """The image ids and perceptual hashes of the photos only ``people`` sent."""
    warehouse = open_warehouse(settings)
    rows = warehouse.query(
        "SELECT image_id, phash, user_id FROM images WHERE user_id IN UNNEST(@people)",
        {"people": people},
    )
    return {str(r["image_id"]) for r in rows}, {str(r["phash"]) for r in rows}


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.5)
    return value


def rounds_done(settings: Settings) -> int:
    rows = open_warehouse(settings).query(
        "SELECT COUNT(DISTINCT version) AS n FROM model_versions"
        " WHERE status IN ('promoted', 'refused', 'staged')"
    )
    return int(rows[0]["n"])


def redis_text(client: redis.Redis) -> dict[str, str]:
    """Every Redis key with its value, Celery's base64 message bodies decoded."""
    found: dict[str, str] = {}
    for key in client.scan_iter(count=1000):
        parts = [key.decode(errors="replace")]
        kind = client.type(key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "hash":
            values = [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "list":
            values = list(client.lrange(key, 0, -1))
        elif kind == "zset":
            values = list(client.zrange(key, 0, -1))
        parts += [_decoded(value) for value in values]
        found[parts[0]] = "\n".join(parts)
    return found


def _decoded(value: bytes) -> str:
    text = value.decode(errors="replace")
    try:
        envelope = json.loads(text)
    except ValueError:
        return text
    if isinstance(envelope, list) and envelope and isinstance(envelope[0], str):
        text, envelope = envelope[0], json.loads(envelope[0])  # the unacked hash: [message, ...]
    if isinstance(envelope, dict) and envelope.get("properties", {}).get("body_encoding"):
        text += base64.b64decode(envelope["body"]).decode(errors="replace")
    return text


def files_text(root: Path) -> str:
    """Every file name and content under ``root`` (the store: photos, features, manifests)."""
    parts = []
    for path in root.rglob("*"):
        if path.is_file():
            parts += [path.relative_to(root).as_posix(), path.read_bytes().decode(errors="replace")]
    return "\n".join(parts)


def web_user(settings: Settings, cookie: str) -> str:
    """The user id the page's signed session cookie names."""
    user = Identity(session_secret(settings)).web_user(cookie)
    assert user is not None, "the page set a cookie the server does not accept"
    return user


def warehouse_text(settings: Settings) -> str:
    warehouse = open_warehouse(settings)
    rows = [row for table in TABLES for row in warehouse.query(f"SELECT * FROM {table}")]  # noqa: S608
    return "\n".join(json.dumps(row, default=str) for row in rows)


async def test_forget_leaves_nothing_of_a_person_anywhere(
    tmp_path: Path, animals_dev: Path, chromium: BrowserThread
) -> None:
    data_dir = tmp_path / "var"
    share_model_cache(data_dir)
    settings = Settings(data_dir=data_dir)
    log = tmp_path / "run.log"
    server_port, redis_port = free_port(), free_port()
    async with fake_bot_api() as fake:
        env = user_env(
            CREATURE_VIS_DATA_DIR=str(data_dir),
            TELEGRAM_BOT_TOKEN=fake.token,
            CREATURE_VIS_BOT__BASE_URL=fake.base_url,
            CREATURE_VIS_BOT__BASE_FILE_URL=fake.base_file_url,
            # Alice and Bob are admins too: a newcomer's correction against a confident model
            # is not trained on, an admin's is, so their photos reach the dataset versions.
            CREATURE_VIS_BOT__ADMIN_IDS=json.dumps([ADA.id, ALICE.id, BOB.id]),
            CREATURE_VIS_SERVER__PORT=str(server_port),
            CREATURE_VIS_REDIS__EMBEDDED_PORT=str(redis_port),
        )
        run = start_run(env, log)
        try:
            await asyncio.to_thread(wait_ready, run, server_port, log)
            url = f"http://127.0.0.1:{server_port}/"
            for n, photo in enumerate(photos(animals_dev, "dog", 2), start=1):
                await answer_in_telegram(fake, ALICE, photo, "cat", n)
            await answer_in_telegram(fake, BOB, photos(animals_dev, "cat", 1)[0], "dog", 1)
            assert chromium.browser is not None
            page = await chromium.do(
                answer_on_the_page, chromium.browser, url, photos(animals_dev, "dog", 2, skip=2)
            )
            cookies = await chromium.do(page.context.cookies)
            cookie = next(c["value"] for c in cookies if c["name"] == SESSION_COOKIE)
            people = [f"telegram:{ALICE.id}", web_user(settings, cookie)]

            fake.send_text(ADA, "/retrain")
            await asyncio.to_thread(wait_until, lambda: rounds_done(settings), 300, "a round")
            ids, hashes = await asyncio.to_thread(traces, settings, people)
            assert len(ids) == 4 and len(hashes) == 4
            held = (data_dir / "store" / "datasets" / "train" / "d1" / "manifest.json").read_text()
            assert all(image_id in held for image_id in ids), "their photos never reached d1"

            fake.send_text(ALICE, "/forget")
            await fake.wait_for(lambda: "Done." in str(fake.bot_messages(ALICE.id)[-1]["text"]))
            await chromium.do(page.get_by_role("button", name="Forget me").click)
            await chromium.do(
                expect(page.locator("#forgotten")).to_contain_text, "We deleted 2 photo(s)"
            )

            # The next round, on Bob's new answer, must leave them out as well.
            await answer_in_telegram(fake, BOB, photos(animals_dev, "cat", 1, skip=1)[0], "dog", 2)
            fake.send_text(ADA, "/retrain")
            await asyncio.to_thread(wait_until, lambda: rounds_done(settings) >= 2, 300, "round 2")
            d2 = data_dir / "store" / "datasets" / "train" / "d2" / "manifest.json"
            assert d2.exists(), "the second round froze no new version"

            in_redis = redis_text(redis.Redis(port=redis_port))
            keys = [k for k, text in in_redis.items() if any(t in text for t in ids | hashes)]
            assert not keys, f"left in Redis under {keys}: {[in_redis[k][:600] for k in keys]}"
        finally:
            run.send_signal(signal.SIGINT)
            assert run.wait(timeout=120) == 0, log.read_text()[-5000:]
    left = {
        "store": files_text(data_dir / "store"),
        "warehouse": warehouse_text(settings),
    }
    for place, text in left.items():
        found = [trace for trace in ids | hashes if trace in text]
        assert not found, f"{len(found)} of their ids or hashes are still in the {place}"
    assert str(ALICE.id) not in left["warehouse"] and people[1] not in left["warehouse"]
    bob = open_warehouse(settings).query("SELECT * FROM feedback WHERE user_id = @u",
                                         {"u": f"telegram:{BOB.id}"})  # fmt: skip
    assert len(bob) == 2  # the others' answers stay
