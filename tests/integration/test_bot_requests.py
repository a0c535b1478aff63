"""The bot's aiohttp request keeps PTB's behaviour: answers, errors, timeouts, uploads, limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_TYPE
from telegram import Bot, InputFile
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TimedOut

from bot.connections import AiohttpRequest
from testkit.bot_harness import fake_bot_api
from testkit.workers_support import free_port


class Echo:
    """A small Bot API lookalike: echoes what it got, answers 429, or never answers."""

    def __init__(self) -> None:
        self.ports: set[int] = set()  # the client ends of the connections it served
        self.never = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/getMe", self._get_me)
        app.router.add_post("/bot{token}/echo", self._echo)
        app.router.add_post("/bot{token}/busy", self._busy)
        app.router.add_post("/bot{token}/hang", self._hang)
        return app

    async def _get_me(self, request: web.Request) -> web.Response:
        me = {"id": 1, "is_bot": True, "first_name": "Echo", "username": "echo_bot"}
        return web.json_response({"ok": True, "result": me})

    async def _echo(self, request: web.Request) -> web.Response:
        assert request.transport is not None
        self.ports.add(request.transport.get_extra_info("peername")[1])
        fields: dict[str, object] = {}
        if request.content_type == "multipart/form-data":
            async for part in await request.multipart():
                assert isinstance(part, BodyPartReader)
                data = (await part.read()).decode()
                file = [part.filename, data, part.headers[CONTENT_TYPE]]
                fields[str(part.name)] = data if part.filename is None else file
        else:
            fields.update(await request.post())
        answer = {"type": request.content_type, "agent": request.headers["User-Agent"], **fields}
        return web.json_response({"ok": True, "result": answer})

    async def _busy(self, request: web.Request) -> web.Response:
        error = {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 7}}
        return web.json_response(error, status=429)

    async def _hang(self, request: web.Request) -> web.Response:
        await self.never.wait()  # set only when the test ends
        return web.json_response({"ok": True, "result": True})


@pytest.fixture
async def echo() -> AsyncIterator[tuple[Echo, Bot]]:
    """The echo server, and a bot on it through a 2-connection AiohttpRequest."""
    server = Echo()
    runner = web.AppRunner(server.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    bot = Bot("1:x", base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest(2))
    try:
        async with bot:
            yield server, bot
    finally:
        server.never.set()
        await runner.cleanup()


async def test_the_real_bot_talks_and_downloads_through_it() -> None:
    async with fake_bot_api() as fake:
        bot = Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url,
                  request=AiohttpRequest(4), get_updates_request=AiohttpRequest(1))  # fmt: skip
        async with bot:
            assert (await bot.get_me()).username == "creature_vis_bot"
            sent = await bot.send_message(7, "héllo")
            assert fake.texts(7) == ["héllo"] and sent.text == "héllo"
            photo = fake.add_file(b"\xff\xd8 not really a jpeg", "photos")
            data = await (await bot.get_file(photo["file_id"])).download_as_bytearray()
            assert bytes(data) == b"\xff\xd8 not really a jpeg"
            with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
                await bot.get_file("no-such-file")
        with pytest.raises(InvalidToken):  # the fake's 401, mapped by PTB
            async with Bot("999:wrong", base_url=fake.base_url, request=AiohttpRequest(1)):
                pass


async def test_parameters_go_form_encoded_and_files_as_multipart(echo: tuple[Echo, Bot]) -> None:
    _, bot = echo
    plain = await bot.do_api_request("echo", {"chat_id": 5, "text": "a b&c", "list": [1, 2]})
    assert plain == {
        "type": "application/x-www-form-urlencoded",
        "agent": AiohttpRequest.USER_AGENT,
        "chat_id": "5",
        "text": "a b&c",
        "list": "[1, 2]",
    }
    document = InputFile(b"some bytes", filename="a.txt")
    sent = await bot.do_api_request("echo", {"chat_id": 5, "document": document})
    assert sent["type"] == "multipart/form-data" and sent["chat_id"] == "5"
    assert sent["document"] == ["a.txt", "some bytes", "text/plain"]  # name, content, type


async def test_errors_become_ptb_errors(echo: tuple[Echo, Bot]) -> None:
    _, bot = echo
    with pytest.raises(RetryAfter) as busy:
        await bot.do_api_request("busy")
    assert "Retry in 7 seconds" in str(busy.value)
    with pytest.raises(TimedOut):
        await bot.do_api_request("hang", read_timeout=0.2)
    nobody = Bot("1:x", base_url=f"http://127.0.0.1:{free_port()}/bot", request=AiohttpRequest(1))
    with pytest.raises(NetworkError) as refused:  # nothing listens there
        async with nobody:
            pass
    assert not isinstance(refused.value, TimedOut)


async def test_requests_beyond_the_connections_wait_for_one(echo: tuple[Echo, Bot]) -> None:
    server, bot = echo
    answers = await asyncio.gather(*(bot.do_api_request("echo", {"n": n}) for n in range(20)))
    assert [answer["n"] for answer in answers] == [str(n) for n in range(20)]
    assert 1 <= len(server.ports) <= 2  # kept alive and reused, never more than 2 at once


async def test_an_uninitialized_or_closed_request_refuses() -> None:
    request = AiohttpRequest(1)
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post("http://127.0.0.1:9/bot1:x/echo")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post("http://127.0.0.1:9/bot1:x/echo")
