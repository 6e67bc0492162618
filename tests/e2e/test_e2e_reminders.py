"""Reminders through the real process: /schedule, /reminders, /cancel, refusals; reminders due
while the bot was down are sent once when it starts, and a SIGKILL and restart (with the dead
process's scheduler lease still standing) sends none of them again."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from botproc import BotProcess
from conftest import ADMIN
from fake_bot_api import FakeBotApi, HttpCall, exchange

from bot.config import Settings
from bot.services import build_services
from bot.services.people import Actor, remember

GROUP, SECRETARY, MEMBER = -101000, 1001, 1002
GROUP_ADMINS = {GROUP: SECRETARY}
TZ = ZoneInfo("Asia/Shanghai")
REMINDER_POSTS = ("⏰ 提醒：", "📚 学习任务", "⏰ 定时提醒\n")  # notice, study, meeting
DUE = {  # reminders whose time came while the bot was down: what each sends
    "今天 {hm} 通知 交党费": "交党费",
    "每天 {hm} 学习 党章第三章": "党章第三章",
    "今天 {hm} 会议 支委会 地点：二楼": "支委会",
}


def prepare_database(database_url: str) -> None:
    schedule_due(database_url, DUE)


def schedule_due(database_url: str, rules: Iterable[str]) -> None:
    """Store reminders as a global admin did two minutes ago, for the current minute, so each
    is due (just missed, well within its grace) when the bot starts."""
    now = datetime.now(UTC)
    minute = now.astimezone(TZ).strftime("%H:%M")
    services = build_services(Settings(DATABASE_URL=database_url, _env_file=None))
    admin = Actor(user_id=ADMIN, name="管理员", chat_id=GROUP, chat_type="supergroup",
                  chat_title="第一支部", is_global_admin=True)
    with services.db.session() as session:
        remember(session, admin)
        for rule in rules:
            services.reminders.schedule(session, admin, rule.format(hm=minute),
                                        now=now - timedelta(minutes=2))
    services.db.dispose()


def sent_to_group(api: FakeBotApi, words: str) -> list[HttpCall]:
    """Reminder posts (not replies that quote them) in the group mentioning `words`."""
    return [c for c in api.calls_of("sendMessage", GROUP)
            if c.text.startswith(REMINDER_POSTS) and words in c.text]


def test_due_reminders_are_sent_once_at_start(api: FakeBotApi, bot: BotProcess) -> None:
    """Each reminder that came due while the bot was down goes out once when it starts; the
    meeting one opens an activity with working buttons."""
    deadline = time.monotonic() + 20
    while not all(sent_to_group(api, words) for words in DUE.values()):
        assert time.monotonic() < deadline, [c.text[:40] for c in api.calls_of("sendMessage")]
        time.sleep(0.1)
    meeting = sent_to_group(api, "支委会")[0]
    assert [label for label, _ in meeting.buttons] == ["签到", "请假"]
    mark = api.mark()
    api.tap(meeting, "签到", user_id=MEMBER)
    answer = api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark)
    assert answer.params["text"] == "签到成功！"
    assert bot.metric("dangjian_reminders_sent_total") == len(DUE)


def test_schedule_list_cancel_and_refusals(api: FakeBotApi, bot: BotProcess) -> None:
    """A secretary schedules, lists and cancels; a member is refused; a bad rule gets the
    usage."""
    reply = exchange(api, "/schedule 每周一 08:30 学习 党章第二章", user_id=SECRETARY,
                     chat_id=GROUP)
    assert "已设置" in reply.text and "下次提醒" in reply.text
    number = re.search(r"#(\d+)", reply.text).group(1)
    listing = exchange(api, "/reminders", user_id=SECRETARY, chat_id=GROUP).text
    assert f"#{number}" in listing and "党章第二章" in listing
    assert "仅限" in exchange(api, "/schedule 明天 09:00 通知 开会", user_id=MEMBER,
                              chat_id=GROUP).text
    assert "仅限" in exchange(api, f"/cancel {number}", user_id=MEMBER, chat_id=GROUP).text
    assert "示例" in exchange(api, "/schedule 某个时候 开会", user_id=SECRETARY,
                              chat_id=GROUP).text
    assert "已取消" in exchange(api, f"/cancel {number}", user_id=SECRETARY, chat_id=GROUP).text
    assert f"#{number}" not in exchange(api, "/reminders", user_id=SECRETARY,
                                        chat_id=GROUP).text


def test_sigkill_and_restart_sends_nothing_twice(api: FakeBotApi, bot: BotProcess) -> None:
    """SIGKILL, a reminder comes due while the bot is dead, restart on the same database: the
    new process sends that one once and none of the earlier ones again. (The dead process's
    lease is expired by hand, as 20 s later; tests/e2e/test_reminder_processes.py waits it
    out.)"""
    bot.kill()
    schedule_due(bot.env["DATABASE_URL"], ["今天 {hm} 通知 重启期间到期"])
    bot.query("UPDATE schedulerlease SET expires_at = '1970-01-01 00:00:00'")
    log_before = len(bot.log())
    bot.start()
    deadline = time.monotonic() + 45
    while "leads the reminder scheduler" not in bot.log()[log_before:]:
        assert time.monotonic() < deadline, bot.log()[log_before:][-2000:]
        time.sleep(0.5)
    api.wait_for(lambda c: c.method == "sendMessage" and "重启期间到期" in c.text, timeout=20)
    exchange(api, "/help", user_id=SECRETARY)  # the bot is live, the jobs are rebuilt
    time.sleep(2)
    for words in [*DUE.values(), "重启期间到期"]:
        assert len(sent_to_group(api, words)) == 1, words
    assert "参加活动 1 次" in exchange(api, "/me", user_id=MEMBER).text


def test_database_has_one_delivery_per_fire(bot: BotProcess) -> None:
    """The delivery rows agree: one sent row per reminder fire, nothing pending or repeated."""
    rows = bot.query(
        "SELECT reminder_id, status, COUNT(*) FROM delivery GROUP BY reminder_id, status")
    assert sorted((status, count) for _reminder, status, count in rows) == [("sent", 1)] * 4
