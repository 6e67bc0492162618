"""`dangjian chat`: a terminal conversation with the real handlers, no token or network needed."""

from __future__ import annotations

import asyncio
import re
import shlex
import tempfile
from pathlib import Path
from typing import Any

from telegram import Update

from bot.app import build_application, on_startup, on_stop
from bot.config import Settings
from bot.offline import ApiCall, LocalBotApi, UpdateFactory
from bot.services import build_services

GROUP_ID = -1001

BANNER = """党建助手离线对话（与 Telegram 走同一套处理程序）。
直接输入文字或命令（如 /help、/ask 宣传主题多久定一次？）。
  :user ID [名字]   切换用户        :group [ID]   进入群聊（默认 {group}）
  :private          回到私聊        :admin        切换当前用户在本群的管理员身份
  :tap N            点击最近消息的第 N 个按钮
  :reply 文字        回复机器人最近一条消息（群里提问用）
  :upload 路径 [附言] 发送文件（书记上传计划文件；名册附言写 /roster）   :quit 退出"""


class TerminalChat:
    """Holds who is talking where, turns lines into updates and prints what the bot sends."""

    def __init__(self, settings: Settings, first_user: int) -> None:
        self.api = LocalBotApi(on_call=self._show)
        self.updates = UpdateFactory()
        self.services = build_services(settings)
        self.app = build_application(self.services, request=self.api, rate_limited=False)
        self.user_id, self.user_name = first_user, f"用户{first_user}"
        self.chat_id = first_user
        self.last_with_buttons: dict[str, Any] | None = None
        self.last_from_bot: dict[str, Any] | None = None
        self.files_dir = Path(tempfile.mkdtemp(prefix="dangjian-chat-"))

    def _show(self, call: ApiCall) -> None:
        if call.method not in {"sendMessage", "editMessageText", "sendPhoto", "sendDocument",
                               "answerCallbackQuery"}:
            return
        prefix = {"editMessageText": "（消息已更新）", "answerCallbackQuery": "（提示）"}.get(
            call.method, ""
        )
        text = re.sub(r"<[^>]+>", "", call.text).replace("&lt;", "<").replace("&gt;", ">")
        text = text.replace("&amp;", "&")
        for name, content in call.files.items():
            path = self.files_dir / f"{len(self.api.calls)}_{name}"
            path.write_bytes(content)
            text += f"\n[文件已保存：{path}]"
        if text:
            print(f"\n🤖 {prefix}{text}")
        if isinstance(call.result, dict):
            self.last_from_bot = call.result
            if call.buttons:
                self.last_with_buttons = call.result
                labels = "  ".join(f"[{i}] {label}" for i, (label, _) in
                                   enumerate(call.buttons, 1))
                print(f"   按钮：{labels}  （输入 :tap 编号）")

    async def feed(self, line: str) -> bool:
        """Handle one line; False when the user quits."""
        if not line.startswith(":"):
            await self._send(self.updates.message(
                line, user_id=self.user_id, chat_id=self.chat_id, name=self.user_name))
            return True
        command, *rest = shlex.split(line[1:]) or [""]
        if command in ("quit", "q", "exit"):
            return False
        if command == "user" and rest:
            self.user_id = int(rest[0])
            self.user_name = rest[1] if len(rest) > 1 else f"用户{self.user_id}"
            if self.chat_id > 0:
                self.chat_id = self.user_id
            print(f"（当前用户：{self.user_name} {self.user_id}）")
        elif command == "group":
            self.chat_id = int(rest[0]) if rest else GROUP_ID
            self.api.chats[self.chat_id] = UpdateFactory.chat(self.chat_id)
            print(f"（已进入群聊 {self.chat_id}；提问请 @{self.app.bot.username} 或用 :reply）")
        elif command == "private":
            self.chat_id = self.user_id
            print("（已回到私聊）")
        elif command == "admin" and self.chat_id < 0:
            admins = self.api.admins.setdefault(self.chat_id, set())
            admins.symmetric_difference_update({self.user_id})
            self.app.bot_data.pop("admin_cache", None)
            print("（当前用户现在是群管理员）" if self.user_id in admins else "（已取消管理员）")
        elif command == "tap" and rest and self.last_with_buttons:
            await self._tap(int(rest[0]))
        elif command == "reply" and self.last_from_bot:
            await self._send(self.updates.message(
                " ".join(rest), user_id=self.user_id, chat_id=self.chat_id,
                name=self.user_name, reply_to=self.last_from_bot))
        elif command == "upload" and rest:
            await self._upload(Path(rest[0]), " ".join(rest[1:]))
        else:
            print(BANNER.format(group=GROUP_ID))
        return True

    async def _tap(self, number: int) -> None:
        assert self.last_with_buttons is not None
        markup = self.last_with_buttons.get("reply_markup") or {}
        buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
        if not 1 <= number <= len(buttons):
            print("（没有这个按钮）")
            return
        await self._send(self.updates.callback(
            buttons[number - 1]["callback_data"], user_id=self.user_id,
            message=self.last_with_buttons, name=self.user_name))

    async def _upload(self, path: Path, caption: str = "") -> None:
        data = await asyncio.to_thread(lambda: path.read_bytes() if path.is_file() else None)
        if data is None:
            print(f"（找不到文件：{path}）")
            return
        file_id = f"local-{len(self.api.files) + 1}"
        self.api.add_file(file_id, data)
        document = {"file_id": file_id, "file_unique_id": file_id, "file_name": path.name,
                    "file_size": len(data)}
        await self._send(self.updates.message(
            caption, user_id=self.user_id, chat_id=self.chat_id, name=self.user_name,
            document=document))

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.app.process_update(Update.de_json(payload, self.app.bot))


async def _loop(session: TerminalChat) -> None:
    async with session.app:
        await on_startup(session.app)  # the reminder scheduler runs here too
        print(BANNER.format(group=GROUP_ID))
        try:
            while True:
                try:
                    line = await asyncio.to_thread(input, "\n你> ")
                except EOFError:
                    break
                if line.strip() and not await session.feed(line.strip()):
                    break
        finally:
            await on_stop(session.app)


def run_chat(settings: Settings, first_user: int) -> int:
    asyncio.run(_loop(TerminalChat(settings, first_user)))
    return 0
