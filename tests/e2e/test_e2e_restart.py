"""Kill the real process (SIGKILL) in the middle of a burst and restart it on the same database:
nothing is lost, nothing is recorded twice, old buttons keep working."""

from __future__ import annotations

import time

import pytest
from botproc import BotProcess
from fake_bot_api import FakeBotApi, HttpCall, exchange

GROUP, SECRETARY = -100900, 901
GROUP_ADMINS = {GROUP: SECRETARY}
BURST = range(2000, 2060)


def present(bot: BotProcess) -> list[int]:
    """Members recorded present by their taps, one entry per attendance row (the secretary who
    posted the meeting hosts it and is present without one)."""
    return [user for (user,) in bot.query(
        "SELECT user_id FROM attendance WHERE status = 'present' AND method <> 'role'")]


def wait_present(bot: BotProcess, count: int, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(rows := present(bot)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows


def answered(api: FakeBotApi) -> set[str]:
    return {str(c.params["callback_query_id"]) for c in api.calls_of("answerCallbackQuery")}


@pytest.fixture(scope="module")
def post(api: FakeBotApi, bot: BotProcess) -> HttpCall:
    return exchange(api, "/remind 现在 主题党日 重温入党誓词", user_id=SECRETARY, chat_id=GROUP)


def test_sigkill_in_a_burst_loses_nothing(api: FakeBotApi, bot: BotProcess,
                                          post: HttpCall) -> None:
    """60 taps, SIGKILL after the first few are handled, restart: all 60 are recorded exactly
    once and every tap is answered."""
    taps = [api.tap(post, "签到", user_id=user) for user in BURST]
    api.wait_for_all(lambda c: c.method == "answerCallbackQuery", 3, timeout=20)
    bot.kill()
    handled_before = len(present(bot))
    assert handled_before < len(BURST), "the kill came too late to prove anything"
    bot.start()
    rows = wait_present(bot, len(BURST))
    assert sorted(rows) == list(BURST)
    ids = {t["callback_query"]["id"] for t in taps}
    deadline = time.monotonic() + 10
    while not ids <= answered(api) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ids <= answered(api)
    message_id = post.result["message_id"]
    api.wait_for(lambda c: c.method == "editMessageText"
                 and int(c.params["message_id"]) == message_id
                 and f"已签到 {len(BURST) + 1} " in c.text, timeout=10)  # and the host


def test_records_and_old_buttons_survive_a_restart(api: FakeBotApi, bot: BotProcess,
                                                   post: HttpCall) -> None:
    """After another SIGKILL and restart, /me still shows the check-in and the button on the
    post from before the restarts still records a new member."""
    bot.kill()
    bot.start()
    assert "参加活动 1 次" in exchange(api, "/me", user_id=BURST[0]).text
    mark = api.mark()
    api.tap(post, "签到", user_id=2999)
    answer = api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark)
    assert answer.params["text"] == "签到成功！"
    assert present(bot).count(2999) == 1


def test_sigterm_finishes_what_it_fetched(api: FakeBotApi, bot: BotProcess,
                                          post: HttpCall) -> None:
    """A clean stop in a burst handles every fetched update, exits 0, and the next start does
    not handle them again."""
    members = range(3000, 3030)
    mark = api.mark()
    for user in members:
        api.tap(post, "签到", user_id=user)
    api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark, timeout=20)
    assert bot.stop() == 0
    mark = api.mark()
    bot.start()
    rows = wait_present(bot, len(BURST) + 1 + len(members))
    assert sorted(rows) == sorted([*BURST, 2999, *members])
    exchange(api, "/help", user_id=SECRETARY)
    assert not [c for c in api.calls[mark:] if c.method == "answerCallbackQuery"
                and c.params.get("text") == "您已签到，无需重复签到。"]
