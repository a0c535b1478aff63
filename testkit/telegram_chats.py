"""The fake Telegram's state: users acting, chats as they look now, and every recorded call.

``ChatRecord`` is what the fake Bot API server serves: tests play users through it (their
messages and button presses become pending updates) and read what the users see.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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


class ChatRecord:
    """Users' actions as pending updates; every chat with edits applied; every Bot API call."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.sent_times: dict[tuple[int, int], float] = {}  # user messages, when offered
        self.edit_times: dict[tuple[int, int], float] = {}  # bot messages, first text edit
        self.update_times: dict[int, float] = {}
        self._updates: list[dict[str, Any]] = []  # offered, not yet confirmed by the bot
        self._new_update = asyncio.Event()
        self._files: dict[str, tuple[str, bytes]] = {}
        self._file_paths: dict[str, bytes] = {}  # downloads look files up by path
        self._chat_ids: dict[int, list[int]] = {}  # message ids per chat, in order
        self._chat_changed: dict[int, asyncio.Event] = {}
        self._ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}

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
        path = f"{folder}/file_{number}"
        self._files[file_id] = (path, data)
        self._file_paths[path] = data
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
        self.keep(message)
        self.sent_times[(chat, message["message_id"])] = time.monotonic()
        self._push({"message": message})
        return message

    def _push(self, content: dict[str, Any]) -> None:
        update_id = next(self._ids)
        self.update_times[update_id] = time.monotonic()
        self._updates.append({"update_id": update_id, **content})
        self._new_update.set()

    def _chat(self, chat_id: int, user: User | None = None) -> dict[str, Any]:
        if chat_id < 0:
            return {"id": chat_id, "type": "group", "title": "Animal lovers"}
        name = user.first_name if user else "someone"
        return {"id": chat_id, "type": "private", "first_name": name}

    def keep(self, message: dict[str, Any]) -> None:
        """Record a new message in its chat (message ids grow within a chat)."""
        chat_id = int(message["chat"]["id"])
        self.messages[(chat_id, message["message_id"])] = message
        self._chat_ids.setdefault(chat_id, []).append(message["message_id"])
        self.changed(chat_id)

    def changed(self, chat_id: int) -> None:
        """Wake whoever waits on the chat (a message came or was edited)."""
        event = self._chat_changed.get(chat_id)
        if event is not None:
            event.set()

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def next_update(self, content: dict[str, Any]) -> dict[str, Any]:
        """Build an update (for webhook delivery) without queueing it for polling."""
        update_id = next(self._ids)
        self.update_times[update_id] = time.monotonic()
        return {"update_id": update_id, **content}

    def chat(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat's messages in order, as they look now."""
        # Read through the chat's own ids: a benchmark's players look at their chats many times
        # a second, and sorting every chat's messages each time starved the fake's responses.
        return [self.messages[(chat_id, i)] for i in self._chat_ids.get(chat_id, [])]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in the chat, as they look now."""
        return [m for m in self.chat(chat_id) if m.get("from", {}).get("is_bot")]

    def texts(self, chat_id: int) -> list[str]:
        """The current text of every bot message in the chat."""
        return [str(m.get("text", "")) for m in self.bot_messages(chat_id)]

    def answers(self, query_id: str) -> list[dict[str, Any]]:
        """The answerCallbackQuery calls for ``query_id``."""
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

    async def wait_in_chat(
        self, chat_id: int, condition: Callable[[], Any], timeout: float = 60.0
    ) -> Any:
        """Like ``wait_for``, looking again only when the chat changes (for many waiters)."""
        deadline = time.monotonic() + timeout
        event = self._chat_changed.setdefault(chat_id, asyncio.Event())
        while True:
            event.clear()
            value = condition()
            if value:
                return value
            try:
                await asyncio.wait_for(event.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"not met in {timeout} s in chat {chat_id}") from None

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


def describe(message: dict[str, Any]) -> str:
    """A short human rendering of a message's content."""
    if "text" in message:
        return str(message["text"]).replace("\n", "\n      ")
    for kind in ("photo", "document", "sticker", "video"):
        if kind in message:
            name = message[kind].get("file_name", "") if kind == "document" else ""
            return f"<{kind}{' ' + name if name else ''}>"
    return "<message>"
