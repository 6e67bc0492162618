"""`dangjian chat`: the simplest adapter over the conversation core — a terminal, no token or
network. It proves the boundary: every flow runs here exactly as on a messenger."""

from __future__ import annotations

import asyncio
import itertools
import shlex
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.app import FEATURES
from bot.channels.base import (
    Attachment,
    Capabilities,
    Content,
    Event,
    Person,
    Place,
    Replied,
    Sent,
    TooLarge,
    render,
)
from bot.config import Settings
from bot.core import Core
from bot.services import build_services

PLATFORM = "terminal"
GROUP = "group1"

BANNER = """党建助手离线对话（与各平台走同一套对话流程）。
直接输入文字或命令（如 /help、/ask 宣传主题多久定一次？）。
  :user ID [名字]   切换用户        :group [ID]   进入群聊（默认 {group}）
  :private          回到私聊        :admin        切换当前用户在本群的管理员身份
  :tap N            点击最近消息的第 N 个按钮
  :reply 文字        回复机器人最近一条消息（群里提问用）
  :upload 路径 [附言] 发送文件（书记上传计划文件；名册附言写 /roster）   :quit 退出
组织管理员：DANGJIAN_ADMINS=terminal:用户ID"""


@dataclass
class Shown:
    chat: str
    content: Content
    reply_to_text: str = ""


@dataclass
class TerminalChannel:
    """Prints what the bot sends; keeps the messages so a tap or a reply can refer to them."""

    out: TextIO
    files_dir: Path
    platform: str = PLATFORM
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(max_text=100_000))
    bot: Person = field(default_factory=lambda: Person("bot", "党建助手", "dangjian_bot", True))
    admins_of: dict[str, set[str]] = field(default_factory=dict)
    shown: dict[str, Shown] = field(default_factory=dict)
    last_with_buttons: str | None = None
    last: str | None = None
    asked: str = ""
    """The text of the last line typed, which the bot's next message answers."""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _print(self, text: str, prefix: str = "") -> None:
        print(f"\n🤖 {prefix}{text}", file=self.out)

    async def send(self, chat: str, content: Content, *, reply_to: str | None = None,
                   quote: bool = False) -> Sent:
        message_id = f"m{next(self._ids)}"
        self.shown[message_id] = Shown(chat, content, self.asked)
        self.last = message_id
        self._print(render(content.text))
        if content.buttons:
            self.last_with_buttons = message_id
            labels = "  ".join(f"[{i}] {b.label}" for i, b in
                               enumerate((b for row in content.buttons for b in row), 1))
            print(f"   按钮：{labels}  （输入 :tap 编号）", file=self.out)
        return Sent(message_id)

    async def edit(self, chat: str, message_id: str, content: Content) -> None:
        self.shown[message_id] = Shown(chat, content, self.shown[message_id].reply_to_text)
        self._print(render(content.text), "（消息已更新）")

    async def clear_buttons(self, chat: str, message_id: str) -> None:
        shown = self.shown[message_id]
        self.shown[message_id] = Shown(chat, Content(shown.content.text), shown.reply_to_text)

    async def answer(self, event: Event, text: str = "", *, alert: bool = False) -> None:
        if text:
            self._print(text, "（提示）")

    async def send_image(self, chat: str, data: bytes, *, filename: str, caption: str = "",
                         reply_to: str | None = None) -> None:
        await self.send_file(chat, data, filename=filename, caption=caption)

    async def send_file(self, chat: str, data: bytes, *, filename: str,
                        caption: str = "") -> None:
        path = self.files_dir / f"{next(self._ids)}_{filename}"
        await asyncio.to_thread(path.write_bytes, data)
        self._print(f"{caption}\n[文件已保存：{path}]")

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        path = Path(attachment.ref)
        if (await asyncio.to_thread(path.stat)).st_size > limit:
            raise TooLarge(limit, path.name)
        return await asyncio.to_thread(path.read_bytes)

    async def is_admin(self, chat: str, user: str) -> bool:
        return user in self.admins_of.get(chat, set())

    async def admins(self, chat: str) -> list[Person]:
        return [Person(user) for user in sorted(self.admins_of.get(chat, set()))]

    async def members(self, chat: str) -> list[Person] | None:
        return None


class TerminalChat:
    """Who is talking where; turns typed lines into events for the core."""

    def __init__(self, settings: Settings, first_user: int, out: TextIO | None = None) -> None:
        import sys

        self.services = build_services(settings)
        self.core = Core(self.services, FEATURES)
        self.channel = TerminalChannel(out or sys.stdout,
                                       Path(tempfile.mkdtemp(prefix="dangjian-chat-")))
        self.core.add_channel(self.channel)
        self.user, self.user_name = str(first_user), f"用户{first_user}"
        self.chat: str | None = None  # None: the private chat
        self._events = itertools.count(1)

    def _say(self, text: str) -> None:
        print(text, file=self.channel.out)

    async def feed(self, line: str) -> bool:
        """Handle one line; False when the user quits."""
        if not line.startswith(":"):
            await self._send(line)
            return True
        command, *rest = shlex.split(line[1:]) or [""]
        if command in ("quit", "q", "exit"):
            return False
        if command == "user" and rest:
            self.user = rest[0]
            self.user_name = rest[1] if len(rest) > 1 else f"用户{self.user}"
            self._say(f"（当前用户：{self.user_name} {self.user}）")
        elif command == "group":
            self.chat = rest[0] if rest else GROUP
            self._say(f"（已进入群聊 {self.chat}；提问请 @{self.channel.bot.username} 或用 :reply）")
        elif command == "private":
            self.chat = None
            self._say("（已回到私聊）")
        elif command == "admin" and self.chat is not None:
            admins = self.channel.admins_of.setdefault(self.chat, set())
            admins.symmetric_difference_update({self.user})
            self.core.forget_admins()
            self._say("（当前用户现在是群管理员）" if self.user in admins else "（已取消管理员）")
        elif command == "tap" and rest and self.channel.last_with_buttons:
            await self._tap(self.channel.last_with_buttons, int(rest[0]))
        elif command == "reply" and self.channel.last:
            await self._send(" ".join(rest), reply_to=self.channel.last)
        elif command == "upload" and rest:
            await self._upload(Path(rest[0]), " ".join(rest[1:]))
        else:
            self._say(BANNER.format(group=GROUP))
        return True

    def _event(self, **fields: object) -> Event:
        place = Place(self.chat, "group", "离线测试群") if self.chat else Place(self.user, "private")
        return Event(platform=PLATFORM, chat=place, sender=Person(self.user, self.user_name),
                     at=datetime.now(UTC), event_id=str(next(self._events)), **fields)  # type: ignore[arg-type]

    def _replied(self, message_id: str) -> Replied:
        shown = self.channel.shown[message_id]
        return Replied(message_id, self.channel.bot, True, render(shown.content.text),
                       reply_to_text=shown.reply_to_text)

    async def _send(self, text: str, *, reply_to: str | None = None,
                    attachment: Attachment | None = None) -> None:
        self.channel.asked = text
        message_id = f"u{next(self._events)}"
        await self.core.handle(self.channel, self._event(
            kind="message", message_id=message_id, text=text, is_command=text.startswith("/"),
            mentioned=f"@{self.channel.bot.username}" in text, attachment=attachment,
            reply_to=self._replied(reply_to) if reply_to else None))

    async def _tap(self, message_id: str, number: int) -> None:
        shown = self.channel.shown[message_id]
        buttons = [b for row in shown.content.buttons for b in row]
        if not 1 <= number <= len(buttons):
            self._say("（没有这个按钮）")
            return
        chat, self.chat = self.chat, None if shown.chat == self.user else shown.chat
        try:
            await self.core.handle(self.channel, self._event(
                kind="action", message_id=message_id, action=buttons[number - 1].value,
                reply_to=self._replied(message_id)))
        finally:
            self.chat = chat

    async def _upload(self, path: Path, caption: str = "") -> None:
        size = await asyncio.to_thread(lambda: path.stat().st_size if path.is_file() else None)
        if size is None:
            self._say(f"（找不到文件：{path}）")
            return
        await self._send(caption, attachment=Attachment("file", path.name, size, str(path)))


async def _loop(session: TerminalChat) -> None:
    scheduler = session.services.scheduler
    await scheduler.start(session.core)  # the reminder scheduler runs here too
    session._say(BANNER.format(group=GROUP))
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "\n你> ")
            except EOFError:
                break
            if line.strip() and not await session.feed(line.strip()):
                break
    finally:
        await scheduler.stop()
        await session.services.db.close()


def run_chat(settings: Settings, first_user: int) -> int:
    asyncio.run(_loop(TerminalChat(settings, first_user)))
    return 0

