"""An in-process stand-in for the Telegram Bot API, so the real Application runs without a token.

`dangjian chat` prints what the bot sends through it, and handler tests assert on its records:
both drive exactly the handlers that serve Telegram.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT_USER = {"id": 1000, "is_bot": True, "first_name": "党建助手", "username": "dangjian_bot"}
SEND_METHODS = {"sendMessage", "sendPhoto", "sendDocument"}


@dataclass
class ApiCall:
    """One Bot API request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    result: Any = None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data or url) of every inline button, row by row."""
        markup = self.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        rows = (markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data") or b.get("url", "")) for r in rows for b in r]


class LocalBotApi(BaseRequest):
    """Answers Bot API methods locally and records every call; chat admins are configurable."""

    def __init__(self, on_call: Callable[[ApiCall], None] | None = None) -> None:
        self.calls: list[ApiCall] = []
        self.admins: dict[int, set[int]] = {}
        self.files: dict[str, bytes] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self._message_ids = itertools.count(1)
        self._on_call = on_call

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    def sent(self, chat_id: int | None = None) -> list[ApiCall]:
        """Messages, photos and documents sent (to one chat, if given)."""
        return [
            c for c in self.calls
            if c.method in SEND_METHODS
            and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]

    def add_file(self, file_id: str, content: bytes) -> None:
        self.files[file_id] = content

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/" in url:
            content = self.files.get(url.rsplit("/", 1)[-1])
            return (200, content) if content is not None else (404, b"")
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.json_parameters) if request_data else {}
        params = {k: _loads(v) for k, v in params.items()}
        files = {}
        if request_data and request_data.multipart_data:
            files = {k: v[1] for k, v in request_data.multipart_data.items()
                     if isinstance(v[1], bytes)}
        call = ApiCall(api_method, params, files, self._answer(api_method, params))
        self.calls.append(call)
        if self._on_call:
            self._on_call(call)
        return 200, json.dumps({"ok": True, "result": call.result}).encode()

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in SEND_METHODS or method == "editMessageText":
            return self._message(params)
        if method == "getChatMember":
            chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
            status = "administrator" if user_id in self.admins.get(chat_id, set()) else "member"
            member: dict[str, Any] = {"status": status, "user": _user(user_id)}
            if status == "administrator":
                member.update(_ADMIN_RIGHTS)
            return member
        if method == "getChatAdministrators":
            chat_id = int(params["chat_id"])
            return [
                {"status": "administrator", "user": _user(u), **_ADMIN_RIGHTS}
                for u in sorted(self.admins.get(chat_id, set()))
            ]
        if method == "getFile":
            file_id = params["file_id"]
            return {"file_id": file_id, "file_unique_id": file_id, "file_path": file_id,
                    "file_size": len(self.files.get(file_id, b""))}
        if method == "getChat":
            chat_id = int(params["chat_id"])
            return self.chats.get(chat_id) or UpdateFactory.chat(chat_id)
        return True

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": self.chats.get(chat_id) or UpdateFactory.chat(chat_id),
            "from": BOT_USER,
        }
        if "text" in params:
            message["text"] = params["text"]
        if "caption" in params:
            message["caption"] = params["caption"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:  # others are not echoed
            message["reply_markup"] = markup
        return message


_ADMIN_RIGHTS = {
    "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
    "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True,
    "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
    "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False,
}


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"用户{user_id}"}


def _loads(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class UpdateFactory:
    """Builds Bot API update payloads as Telegram would send them (for the chat and tests)."""

    def __init__(self, start_update_id: int = 1) -> None:
        self._update_ids = itertools.count(start_update_id)
        self._message_ids = itertools.count(100_000)

    @staticmethod
    def chat(chat_id: int, title: str = "") -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": title or f"用户{chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": title or f"支部{-chat_id}"}

    @staticmethod
    def user(user_id: int, name: str = "") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name or f"用户{user_id}"}

    def message(
        self,
        text: str,
        *,
        user_id: int,
        chat_id: int | None = None,
        name: str = "",
        chat_title: str = "",
        date: int | None = None,
        reply_to: dict[str, Any] | None = None,
        document: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A text message (a command when it starts with '/') or a document with a caption."""
        chat_id = user_id if chat_id is None else chat_id
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()) if date is None else date,
            "chat": self.chat(chat_id, chat_title),
            "from": self.user(user_id, name),
        }
        key = "caption" if document else "text"
        if text:
            message[key] = text
            entities = _entities(text)
            if entities:
                message["caption_entities" if document else "entities"] = entities
        if document:
            message["document"] = document
        if reply_to:
            message["reply_to_message"] = reply_to
        return {"update_id": next(self._update_ids), "message": message}

    def callback(
        self, data: str, *, user_id: int, message: dict[str, Any], name: str = ""
    ) -> dict[str, Any]:
        """A tap on an inline button of `message` (a Message payload the bot sent)."""
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._message_ids)),
                "from": self.user(user_id, name),
                "chat_instance": str(message["chat"]["id"]),
                "message": message,
                "data": data,
            },
        }

    def my_chat_member(self, chat_id: int, *, by: int, title: str = "", old: str = "left",
                       new: str = "member") -> dict[str, Any]:
        """The bot's own membership of a group changed (added by `by` when left -> member)."""
        me = {"id": 1, "is_bot": True, "first_name": "党建助手"}
        return {
            "update_id": next(self._update_ids),
            "my_chat_member": {
                "chat": self.chat(chat_id, title), "from": self.user(by),
                "date": int(time.time()),
                "old_chat_member": {"status": old, "user": me},
                "new_chat_member": {"status": new, "user": me},
            },
        }


def _entities(text: str) -> list[dict[str, Any]]:
    """bot_command and mention entities, with offsets in UTF-16 code units as Telegram counts."""
    entities = []
    for match in re.finditer(r"(?:^/[A-Za-z0-9_]+(?:@\w+)?)|(?:@\w+)", text):
        kind = "bot_command" if match.group().startswith("/") else "mention"
        offset = len(text[: match.start()].encode("utf-16-le")) // 2
        length = len(match.group().encode("utf-16-le")) // 2
        entities.append({"type": kind, "offset": offset, "length": length})
    return entities
