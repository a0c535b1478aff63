"""A local fake of the Telegram Bot API, for driving the real python-telegram-bot client.

It serves the methods the bot uses under ``/bot<token>/<method>`` and file downloads under
``/file/bot<token>/<path>``, records every call, and keeps each chat as the user sees it
(messages with their current text and buttons, edits applied). Tests play users by
injecting updates, which the bot receives through long polling (``getUpdates``) or, in
webhook mode, through ``post_webhook``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "123456:TEST-fake-token"  # noqa: S105  (the fake accepts only this)
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Creature Vis",
    "username": "creature_vis_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
_JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "entities", "scope"}
_BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "protect_content"}
_INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time"}


@dataclass
class Call:
    """One Bot API request the bot made."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class User:
    """A person playing a Telegram user (a private chat has the user's id)."""

    id: int
    first_name: str

    def as_json(self) -> dict[str, Any]:
        """The Bot API User object."""
        return {"id": self.id, "is_bot": False, "first_name": self.first_name}


class FakeBotApi:
    """The fake server: start it, point the bot at ``base_url``/``base_file_url``, play users."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.update_times: dict[int, float] = {}
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._files: dict[str, tuple[str, bytes]] = {}
        self._ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free local port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Release pending long polls and stop listening."""
        self._closing = True
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """Value for ``settings.bot.base_url``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``settings.bot.base_file_url``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- playing users -----------------------------------------------------------------------

    def send_text(self, user: User, text: str, chat_id: int | None = None) -> dict[str, Any]:
        """The user types ``text`` (a leading ``/command`` becomes a bot_command)."""
        extra: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._user_message(user, chat_id, extra)

    def send_photo(self, user: User, data: bytes, chat_id: int | None = None) -> dict[str, Any]:
        """The user sends a compressed photo (Telegram offers a thumbnail and the full size)."""
        thumb, full = self.add_file(data, "photos"), self.add_file(data, "photos")
        sizes = [
            {**thumb, "width": 90, "height": 90},
            {**full, "width": 1280, "height": 960},
        ]
        return self._user_message(user, chat_id, {"photo": sizes})

    def send_document(
        self, user: User, data: bytes, file_name: str, mime_type: str, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The user sends a file."""
        document = {**self.add_file(data, "documents"), "file_name": file_name}
        document["mime_type"] = mime_type
        return self._user_message(user, chat_id, {"document": document})

    def send_sticker(self, user: User, chat_id: int | None = None) -> dict[str, Any]:
        """The user sends a sticker."""
        sticker = {
            **self.add_file(b"RIFF-sticker", "stickers"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "🐶",
        }
        return self._user_message(user, chat_id, {"sticker": sticker})

    def send_video(self, user: User, chat_id: int | None = None) -> dict[str, Any]:
        """The user sends a video."""
        video = {**self.add_file(b"\x00\x00\x00\x18ftypmp42", "videos"), "duration": 3}
        video.update(width=640, height=480, mime_type="video/mp4")
        return self._user_message(user, chat_id, {"video": video})

    def press(self, user: User, message: dict[str, Any], data: str) -> str:
        """The user taps an inline button on ``message`` carrying ``data``; return the query id."""
        query_id = str(next(self._ids))
        current = self.messages.get((message["chat"]["id"], message["message_id"]), message)
        query = {
            "id": query_id,
            "from": user.as_json(),
            "chat_instance": str(current["chat"]["id"]),
            "message": current,
            "data": data,
        }
        self._push({"callback_query": query})
        return query_id

    def add_file(self, data: bytes, folder: str) -> dict[str, Any]:
        """Make ``data`` downloadable; return its file_id, file_unique_id and file_size."""
        number = next(self._ids)
        file_id = f"file-{number}"
        self._files[file_id] = (f"{folder}/file_{number}", data)
        return {"file_id": file_id, "file_unique_id": f"u{number}", "file_size": len(data)}

    def _user_message(
        self, user: User, chat_id: int | None, extra: dict[str, Any]
    ) -> dict[str, Any]:
        chat = chat_id if chat_id is not None else user.id
        message = {
            "message_id": self._next_message_id(chat),
            "date": int(time.time()),
            "chat": self._chat(chat, user),
            "from": user.as_json(),
            **extra,
        }
        self.messages[(chat, message["message_id"])] = message
        self._push({"message": message})
        return message

    def _push(self, content: dict[str, Any]) -> None:
        update_id = next(self._ids)
        self.update_times[update_id] = time.monotonic()
        self._updates.append({"update_id": update_id, **content})
        self._new_update.set()

    # -- what the user sees ------------------------------------------------------------------

    def chat(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat's messages in order, as they look now."""
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in the chat, as they look now."""
        return [m for m in self.chat(chat_id) if m.get("from", {}).get("is_bot")]

    def texts(self, chat_id: int) -> list[str]:
        """The current text of every bot message in the chat."""
        return [str(m.get("text", "")) for m in self.bot_messages(chat_id)]

    def answers(self, query_id: str) -> list[dict[str, Any]]:
        """answerCallbackQuery calls for ``query_id``."""
        return [
            c.params
            for c in self.calls_to("answerCallbackQuery")
            if c.params.get("callback_query_id") == query_id
        ]

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method."""
        return [call for call in self.calls if call.method == method]

    def transcript(self, chat_id: int) -> str:
        """The chat rendered as text, buttons in brackets."""
        lines = []
        for message in self.chat(chat_id):
            who = "bot" if message.get("from", {}).get("is_bot") else message["from"]["first_name"]
            lines.append(f"{who}: {describe(message)}")
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                lines.append("      " + " ".join(f"[{b['text']}]" for b in row))
        return "\n".join(lines)

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Return the first truthy value of ``condition()``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {timeout} s; calls: {self.calls[-5:]}")
            await asyncio.sleep(0.02)

    # -- the Bot API -------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append(Call(method, params))
        handler = self._methods().get(method)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except BadRequest as exc:
            return _error(400, f"Bad Request: {exc}")
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        for file_path, data in self._files.values():
            if file_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return _error(404, "Not Found")

    def _methods(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "getFile": self._get_file,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "close": self._close,
        }

    async def _get_me(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self._updates and not self._closing and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return self._updates[: int(params.get("limit") or 100)]

    async def _get_file(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id"))
        if file_id not in self._files:
            raise BadRequest("invalid file_id")
        path, data = self._files[file_id]
        if len(data) > 20 * 1024 * 1024:
            raise BadRequest("file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(data),
            "file_path": path,
        }

    async def _send_message(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": BOT_USER,
            "text": params["text"],
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _edit_message_text(self, params: dict[str, Any]) -> Any:
        message = self._bot_message(params)
        message["text"] = params["text"]
        message["edit_date"] = int(time.time())
        _set_markup(message, params.get("reply_markup"))
        return message

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        message = self._bot_message(params)
        message["edit_date"] = int(time.time())
        _set_markup(message, params.get("reply_markup"))
        return message

    async def _answer_callback_query(self, params: dict[str, Any]) -> Any:
        return True

    async def _set_my_commands(self, params: dict[str, Any]) -> Any:
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _set_webhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _close(self, params: dict[str, Any]) -> Any:
        return True

    def _bot_message(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None or not message.get("from", {}).get("is_bot"):
            raise BadRequest("message to edit not found")
        return message

    def _chat(self, chat_id: int, user: User | None = None) -> dict[str, Any]:
        if chat_id < 0:
            return {"id": chat_id, "type": "group", "title": "Animal lovers"}
        name = user.first_name if user else "someone"
        return {"id": chat_id, "type": "private", "first_name": name}

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    # -- webhook mode ------------------------------------------------------------------------

    async def post_webhook(self, url: str, update: dict[str, Any], secret: str | None) -> int:
        """Deliver one update to a webhook as Telegram does; return the HTTP status."""
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=update, headers=headers) as response,
        ):
            return response.status

    def next_update(self, content: dict[str, Any]) -> dict[str, Any]:
        """Build an update (for webhook delivery) without queueing it for polling."""
        update_id = next(self._ids)
        self.update_times[update_id] = time.monotonic()
        return {"update_id": update_id, **content}


class BadRequest(Exception):
    """A request the real Bot API would refuse with 400."""


def _error(status: int, description: str) -> web.Response:
    body = {"ok": False, "error_code": status, "description": description}
    return web.json_response(body, status=status)


def _set_markup(message: dict[str, Any], markup: Any) -> None:
    if markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.post() if request.can_read_body else {}
    params: dict[str, Any] = {}
    for name, value in form.items():
        if not isinstance(value, str):
            continue
        if name in _JSON_FIELDS:
            params[name] = json.loads(value)
        elif name in _BOOL_FIELDS:
            params[name] = value == "true"
        elif name in _INT_FIELDS and value.lstrip("-").isdigit():
            params[name] = int(value)
        else:
            params[name] = value
    return params


def describe(message: dict[str, Any]) -> str:
    """A short human rendering of a message's content."""
    if "text" in message:
        return str(message["text"]).replace("\n", "\n      ")
    for kind in ("photo", "document", "sticker", "video"):
        if kind in message:
            name = message[kind].get("file_name", "") if kind == "document" else ""
            return f"<{kind}{' ' + name if name else ''}>"
    return "<message>"
