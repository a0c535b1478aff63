"""A local fake of the Telegram Bot API, for driving the real python-telegram-bot client.

It serves the methods the bot uses under ``/bot<token>/<method>`` and file downloads under
``/file/bot<token>/<path>``, records every call, and keeps each chat as the user sees it
(messages with their current text and buttons, edits applied). Tests play users by
injecting updates, which the bot receives through long polling (``getUpdates``) or, in
webhook mode, through ``post_webhook``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from testkit.telegram_chats import Call, ChatRecord

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
_JSON_FIELDS = {
    "reply_markup",
    "reply_parameters",
    "allowed_updates",
    "commands",
    "entities",
    "scope",
}
_BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "protect_content"}
_INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time"}


class FakeBotApi(ChatRecord):
    """The fake server: start it, point the bot at ``base_url``/``base_file_url``, play users."""

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.webhook: dict[str, Any] | None = None
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
        data = self._file_paths.get(request.match_info["path"])
        if data is None:
            return _error(404, "Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

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
        quoted = (params.get("reply_parameters") or {}).get("message_id")
        if quoted is not None and (chat_id, int(quoted)) in self.messages:
            message["reply_to_message"] = dict(self.messages[(chat_id, int(quoted))])
        self.keep(message)
        return message

    async def _edit_message_text(self, params: dict[str, Any]) -> Any:
        message = self._bot_message(params)
        self.edit_times.setdefault((message["chat"]["id"], message["message_id"]), time.monotonic())
        message["text"] = params["text"]
        message["edit_date"] = int(time.time())
        _set_markup(message, params.get("reply_markup"))
        self.changed(message["chat"]["id"])
        return message

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        message = self._bot_message(params)
        message["edit_date"] = int(time.time())
        _set_markup(message, params.get("reply_markup"))
        self.changed(message["chat"]["id"])
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

    # -- webhook mode ------------------------------------------------------------------------

    async def post_webhook(self, url: str, update: dict[str, Any], secret: str | None) -> int:
        """Deliver one update to a webhook as Telegram does; return the HTTP status."""
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=update, headers=headers) as response,
        ):
            return response.status


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
