"""Telegram unreachable when the real process starts (network or proxy still coming up): it
waits and retries instead of exiting, starts as soon as Telegram answers, and still stops at
once on SIGTERM while it waits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from botproc import BotProcess, free_port
from fake_bot_api import FakeBotApi, exchange


def waiting_bot(tmp_path: Path) -> tuple[FakeBotApi, BotProcess]:
    """A bot process pointed at a fake Bot API that is not serving yet."""
    api = FakeBotApi(port=free_port())
    return api, BotProcess(api, tmp_path, database_url=f"sqlite:///{tmp_path / 'd.db'}")


def test_the_bot_starts_once_telegram_answers(tmp_path: Path) -> None:
    api, bot = waiting_bot(tmp_path)
    later = threading.Timer(9.0, api.start)  # past the 3.5 s the Bot API client retries
    later.start()
    try:
        bot.start(timeout=40)  # returns once it polls: after the fake came up
        assert "Telegram Bot API unreachable" in bot.log()
        assert "党建助手" in exchange(api, "/start", user_id=1).text
        assert bot.stop() == 0
    finally:
        later.join()
        if bot.process is not None:
            bot.kill()
        api.stop()


def test_sigterm_while_telegram_is_unreachable_exits_cleanly(tmp_path: Path) -> None:
    _, bot = waiting_bot(tmp_path)
    with pytest.raises(RuntimeError):  # never polls: nothing answers
        bot.start(timeout=2)
    deadline = time.monotonic() + 30
    while "Telegram Bot API unreachable" not in bot.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Telegram Bot API unreachable" in bot.log()
    started = time.monotonic()
    assert bot.stop() == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in bot.log()
