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


def logged(bot: BotProcess, text: str, timeout: float = 60.0) -> bool:
    """Whether the process logs `text` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bot.log_path.exists() and text in bot.log():
            return True
        time.sleep(0.1)
    return False


def test_the_bot_starts_once_telegram_answers(tmp_path: Path) -> None:
    api, bot = waiting_bot(tmp_path)
    # Telegram comes up once the bot, past its calls' own retries, waits for it
    later = threading.Thread(target=lambda: logged(bot, "Telegram Bot API unreachable")
                             and api.start())
    later.start()
    try:
        bot.start(timeout=60)  # returns once it polls: after the fake came up
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
    assert logged(bot, "Telegram Bot API unreachable")
    started = time.monotonic()
    assert bot.stop() == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in bot.log()
