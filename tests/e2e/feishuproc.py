"""`dangjian run` on Feishu only, as a real subprocess against the fake Feishu Open Platform
(tests/fakes/feishu.py served on a thread of its own), for end-to-end tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botproc import PlatformBot, said
from fakes.feishu import FakeFeishu

ADMIN = "ou_admin01"  # the global admin of every process started here


class FeishuBot(PlatformBot):
    """`python -m bot.cli run` with only Feishu configured, its callback on its own port."""

    def __init__(self, fake: FakeFeishu, workdir: Path, *, mode: str,
                 database_url: str | None = None) -> None:
        env = {**fake.env(), "FEISHU_MODE": mode, "DANGJIAN_ADMINS": f"feishu:{ADMIN}"}
        if database_url:
            env["DATABASE_URL"] = database_url
        super().__init__(env, workdir, f"feishu-{mode}")
        self.fake = fake

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:{self.port}/feishu/events"


class Platform:
    """The fake on a thread of its own, driven from the (synchronous) tests."""

    def __init__(self, fake: FakeFeishu) -> None:
        self.fake = fake
        self.run = fake.run

    def texts(self, to: str) -> list[str]:
        return [message_text(m) for m in self.fake.sent(to)]

    def said(self, to: str, words: str, since: int = 0) -> str:
        return said(self.texts, to, words, since)


def message_text(message: Any) -> str:
    content = message.content
    if isinstance(content, dict) and "elements" in content:
        return "\n".join(e.get("text", {}).get("content", "") for e in content["elements"]
                         if e.get("tag") == "div")
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content)


def buttons(message: Any) -> dict[str, str]:
    return {b["text"]["content"]: b["value"]["v"] for e in message.content.get("elements", [])
            if e.get("tag") == "action" for b in e["actions"]}
