"""`dangjian run` as a real subprocess against a FakeBotApi, for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from fake_bot_api import FakeBotApi
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float = 15.0,
             why: Callable[[], str] = lambda: "") -> Any:
    """Until `condition()` holds (another process answers when it answers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s {why()}")


def refused_start(env: Mapping[str, str]) -> str:
    """Run `dangjian run` that must stop at start (exit 2, one line, no traceback); its
    standard error."""
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=dict(env), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def said(texts: Callable[[str], list[str]], to: str, words: str, since: int = 0) -> str:
    """The first message to `to` (after its first `since`) holding `words`, once it is there:
    `texts(to)` reads what a fake platform was sent."""
    return wait_for(lambda: next((t for t in texts(to)[since:] if words in t), None),
                    why=lambda: f"{words!r} to {to}; sent: {texts(to)[-5:]}")


class BotProcess:
    """One `python -m bot.cli run` with its own PORT and log file; start, kill, restart."""

    def __init__(self, api: FakeBotApi, workdir: Path, *, database_url: str,
                 admins: str = "900", webhook_secret: str | None = None,
                 branches: Iterable[int] | Mapping[int, str] = (), **env: str) -> None:
        """Long polling; webhook mode on this process's own port when `webhook_secret` is set.
        `branches`: groups registered (as /bind would) before the first start, each under its
        name when a mapping gives one."""
        self.api = api
        self.branches = (dict(branches) if isinstance(branches, Mapping)
                         else {chat_id: f"支部{-chat_id}" for chat_id in branches})
        self.workdir = workdir
        self.port = free_port()
        if webhook_secret is not None:
            env["WEBHOOK_URL"] = f"http://127.0.0.1:{self.port}/telegram"
            env["WEBHOOK_SECRET"] = webhook_secret
        self.log_path = workdir / "bot.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
        self.env = {
            **inherited, **api.env(), "DATABASE_URL": database_url, "DANGJIAN_ADMINS": admins,
            "PORT": str(self.port), "PYTHONUNBUFFERED": "1", **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def webhook(self) -> bool:
        return bool(self.env.get("WEBHOOK_URL"))

    def start(self, *, timeout: float = 30.0) -> BotProcess:
        """Start and wait until it polls (or, in webhook mode, has set its webhook)."""
        if self.branches:
            self.register_branches(self.branches)
            self.branches = {}
        polls = self.api.get_updates_count
        mark = self.api.mark()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"], env=self.env, cwd=self.workdir,
                stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            if self.webhook:
                self.api.wait_for(lambda c: c.method == "setWebhook", since=mark, timeout=timeout)
            else:
                self.api.wait_polling(after=polls, timeout=timeout)
        except TimeoutError:
            raise RuntimeError(f"the bot did not start:\n{self.log()[-3000:]}") from None
        return self

    def register_branches(self, names: Mapping[int, str], by: int = 900) -> None:
        """Register these groups as branches, as a global admin's /bind would (the database is
        migrated first if the process has not started yet)."""
        from bot.services import organization
        from storage.db import Database

        database = Database(self.env["DATABASE_URL"])
        database.migrate()
        try:
            with database.session() as session:
                for chat_id, name in names.items():
                    organization.register(session, chat_id, name, by, datetime.now(UTC))
                session.commit()
        finally:
            database.dispose()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self._end(signal.SIGKILL)

    def stop(self) -> int:
        """SIGTERM: a clean shutdown; returns the exit code."""
        return self._end(signal.SIGTERM)

    def _end(self, signum: int) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(15)
        self.process = None
        return code

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far (user + system), from /proc."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one SQL statement on the process's database (SQLite or PostgreSQL), committed;
        its rows, if it returns any."""
        engine = create_engine(self.env["DATABASE_URL"])
        try:
            with engine.begin() as connection:
                result = connection.execute(text(sql))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str) -> tuple[int, str]:
        """GET one of the process's own pages (/healthz, /readyz, /metrics)."""
        return self.request("GET", path)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                     method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post_update(self, update: dict[str, Any], *, secret: str | None,
                    path: str = "/telegram") -> int:
        """Deliver an update the way Telegram's webhook does; returns the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        status, _ = self.request("POST", path, json.dumps(update).encode(), headers)
        return status

    def metric(self, name: str) -> float:
        """The sum of one metric's samples on /metrics (all label values)."""
        _, page = self.get("/metrics")
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
            if line.startswith(name) and not line.startswith("#")
            and line[len(name):len(name) + 1] in ("{", " ")
        )

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError("/readyz never answered 200")


class PlatformBot:
    """`python -m bot.cli run` with only another platform configured (`env`: its settings and
    DANGJIAN_ADMINS), its own PORT, SQLite database and log file; start, end, start again."""

    def __init__(self, env: Mapping[str, str], workdir: Path, name: str) -> None:
        self.workdir, self.port = workdir, free_port()
        self.log_path = workdir / f"bot-{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "WEBHOOK_", "FEISHU_", "DINGTALK_", "WECOM_"))},
            "PORT": str(self.port), "DATABASE_URL": f"sqlite:///{workdir / 'bot.db'}",
            "PYTHONUNBUFFERED": "1", **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
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
