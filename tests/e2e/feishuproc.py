"""`dangjian run` on Feishu only, as a real subprocess against the fake Feishu Open Platform
(tests/fakes/feishu.py served on a thread of its own), for end-to-end tests and benchmarks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from botproc import free_port, wait_for
from fakes.feishu import FakeFeishu

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "ou_admin01"  # the global admin of every process started here


class FeishuBot:
    """`python -m bot.cli run` with only Feishu configured."""

    def __init__(self, fake: FakeFeishu, workdir: Path, *, mode: str,
                 database_url: str | None = None) -> None:
        self.fake, self.workdir, self.port = fake, workdir, free_port()
        self.log_path = workdir / f"bot-{mode}.log"
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "WEBHOOK_", "FEISHU_"))},
            **fake.env(), "FEISHU_MODE": mode, "PORT": str(self.port),
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'feishu.db'}",
            "DANGJIAN_ADMINS": f"feishu:{ADMIN}", "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:{self.port}/feishu/events"

    def start(self) -> FeishuBot:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"],
                                            env=self.env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT)
        wait_for(self.ready, 40, lambda: self.log()[-3000:])
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def end(self, signum: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        code = self.process.wait(60)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")


class Platform:
    """The fake on a thread of its own, driven from the (synchronous) tests."""

    def __init__(self, fake: FakeFeishu, loop: asyncio.AbstractEventLoop) -> None:
        self.fake, self.loop = fake, loop

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def texts(self, to: str) -> list[str]:
        return [message_text(m) for m in self.fake.sent(to)]

    def said(self, to: str, words: str, since: int = 0) -> str:
        return wait_for(lambda: next((t for t in self.texts(to)[since:] if words in t), None),
                        why=lambda: f"{words!r} to {to}; sent: {self.texts(to)[-5:]}")


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
