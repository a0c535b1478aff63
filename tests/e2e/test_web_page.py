"""The web page in headless Chromium on a phone-sized screen, with the real model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from core.model.calibration import Calibration
from core.model.handle import open_registry
from core.settings import Settings
from core.warehouse import open_warehouse
from model_server.identity import Identity, session_secret
from model_server.state import SESSION_COOKIE
from tests.integration.server_support import (
    LiveServer,
    live_server,
    real_photo,
    shared_cache_settings,
)

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.datasets]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def page_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The real backbone from the shared cache (``settings`` cleans the environment)."""
    return shared_cache_settings(tmp_path / "web-var")


@pytest.fixture
def server(page_settings: Settings) -> Iterator[LiveServer]:
    with live_server(page_settings) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_upload_predict_correct_and_see_status(
    server: LiveServer,
    browser: Browser,
    page_settings: Settings,
    animals_dev: Path,
    tmp_path: Path,
) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(server.url)
    expect(page.get_by_text("Pick a photo")).to_be_visible()

    page.set_input_files("#file-input", str(real_photo(animals_dev, "dog")))
    expect(page.locator("#prediction")).to_be_visible(timeout=60_000)
    expect(page.locator("#bars .bar")).to_have_count(3)
    expect(page.locator("#top-label")).to_have_text("a dog")
    assert _fits_the_screen(page)
    page.screenshot(path=str(tmp_path / "prediction.png"), full_page=True)

    page.get_by_role("button", name="No, it's something else").click()
    page.locator('#label-choices button[data-label="giraffe"]').click()
    expect(page.locator("#thanks")).to_contain_text("giraffe")
    page.screenshot(path=str(tmp_path / "thanks.png"), full_page=True)

    cookie = next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)
    session = Identity(session_secret(page_settings)).web_user(cookie)
    rows = open_warehouse(page_settings).query("SELECT * FROM feedback")
    assert len(rows) == 1
    row = rows[0]
    assert (row["label"], row["predicted_label"], row["is_correct"]) == ("giraffe", "dog", False)
    assert session is not None and (row["channel"], row["user_id"]) == ("web", session)

    page.get_by_role("link", name="Status").click()
    expect(page.locator("#status-version")).to_contain_text("v0")
    expect(page.locator("#count-total")).to_have_text("1")
    expect(page.locator("#count-incorrect")).to_have_text("1")
    expect(page.locator("#figure-rolling")).to_contain_text("0% of the latest 1 answers")
    expect(page.locator("#status-estimated-accuracy")).to_have_text(
        "not yet: v0 has no calibration"
    )
    expect(page.locator("#history-chart svg")).to_be_visible()
    assert _fits_the_screen(page)
    page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
    context.close()


def test_a_file_that_is_not_a_photo_gets_a_readable_message(
    server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("just some text")
    page = browser.new_page(viewport=PHONE)
    page.goto(server.url)
    page.set_input_files("#file-input", str(not_a_photo))
    expect(page.locator("#error")).to_contain_text("not an image")
    expect(page.locator("#result")).to_be_hidden()
    page.close()


def test_a_set_the_model_cannot_tell_apart_is_shown_with_a_button_per_label(
    browser: Browser, page_settings: Settings, animals_dev: Path, tmp_path: Path
) -> None:
    registry = open_registry(page_settings)
    registry.calibrate(registry.ensure_taxonomy(), Calibration(1.0, 2.0, 0.5, 0.95, 100, "t-1"))
    with live_server(page_settings) as server:
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
        page = context.new_page()
        page.goto(server.url)
        page.set_input_files("#file-input", str(real_photo(animals_dev, "dog")))
        expect(page.locator("#prediction")).to_be_visible(timeout=60_000)
        expect(page.locator("#headline-lead")).to_have_text("This is")
        expect(page.locator("#top-label")).to_contain_text("a dog, ")
        expect(page.locator("#doubt")).to_be_visible()
        expect(page.locator("#question")).to_have_text("Which is it?")
        expect(page.locator("#btn-correct")).to_be_hidden()
        choices = page.locator("#set-choices button")
        expect(choices).to_have_count(3)
        assert _fits_the_screen(page)
        page.screenshot(path=str(tmp_path / "answer-set.png"), full_page=True)
        second = choices.nth(1).get_attribute("data-label")
        choices.nth(1).click()
        expect(page.locator("#thanks")).to_be_visible()
        (row,) = open_warehouse(page_settings).query("SELECT * FROM feedback")
        assert (row["label"], row["predicted_label"], row["is_correct"]) == (second, "dog", False)
        (interaction,) = open_warehouse(page_settings).query("SELECT * FROM interactions")
        assert json.loads(interaction["answer_json"])[1] == second
        context.close()
