"""The reminder service on SQLite and PostgreSQL: scheduling rules, and each fire delivered at
most once per chat, late fires reported instead of sent, unreachable chats, interrupted sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import datetime, timedelta

import pytest
from manual_time import until
from reminder_world import (
    ADMIN,
    BRANCH,
    MEMBER,
    NOW,
    SECRETARY,
    TZ,
    FakeSender,
    World,
    actor,
    secretary,
)
from sqlmodel import select

from bot.services import UserError
from bot.services.reminders import SEND_CONCURRENCY, rest_day_note
from storage.db import Database
from storage.models import Activity, Attendance, AuditLog, Chat, Delivery, Reminder, StudyTask

OTHER_BRANCH = -100600


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


def deliveries(world: World, reminder_id: int) -> list[Delivery]:
    with world.db.session() as session:
        return list(session.exec(select(Delivery).where(Delivery.reminder_id == reminder_id)
                                 .order_by(Delivery.fire_time, Delivery.chat_id)).all())


def reminder(world: World, reminder_id: int) -> Reminder:
    with world.db.session() as session:
        row = session.get(Reminder, reminder_id)
        assert row is not None
        return row


def broadcast(world: World, first: int, count: int, text: str = "早读") -> tuple[int, datetime]:
    """`count` more branch groups and an admin's daily 08:00 reminder to all branches; returns
    it and its fire time tomorrow, with the clock set there."""
    with world.db.session() as session:
        for n in range(count):
            session.add(Chat(id=first - n, title=f"支部{n}", type="supergroup"))
    rid = world.schedule(f"全部支部 每天 08:00 {text}", actor(ADMIN, ADMIN, global_admin=True))
    world.clock.now = NOW + timedelta(hours=22)
    return rid, world.clock.now


# --- scheduling --------------------------------------------------------------------------------

def test_schedule_stores_the_parsed_rule_in_utc(world: World) -> None:
    """The rule is parsed once and stored (fire times in UTC), with an audit row."""
    rid = world.schedule("每月最后一个周五 15:00 主题党日 地点：三楼会议室")
    row = reminder(world, rid)
    assert (row.kind, row.scope, row.rule) == ("meeting", "chat", "每月最后一个周五 15:00")
    assert row.text == "主题党日 地点：三楼会议室"
    assert json.loads(row.spec)["day"] == "last fri"
    with world.db.session() as session:
        first = world.reminders.listing(session, secretary(), now=NOW)[0].next_fire
        audit = session.exec(select(AuditLog).where(AuditLog.action == "schedule")).one()
    assert first is not None and first.utcoffset() == timedelta(0)
    assert first.astimezone(TZ).strftime("%m-%d %H:%M") == "11-27 15:00"
    assert audit.entity_id == str(rid)


@pytest.mark.parametrize(
    ("content", "kind"),
    [("支部委员会会议", "meeting"), ("学习《党章》第一章", "study"), ("交党费", "notice"),
     ("会议：讨论发展党员", "meeting"), ("【学习】十九届六中全会精神", "study"),
     ("通知：请按时参加中心组学习", "notice")],
)
def test_kind_from_the_content(world: World, content: str, kind: str) -> None:
    """Meetings get check-in buttons, study gets 已学习; a '会议：' prefix says so explicitly."""
    rid = world.schedule(f"每周一 08:30 {content}")
    assert reminder(world, rid).kind == kind


def test_a_word_alone_is_the_content(world: World) -> None:
    """`每周五 15:00 学习`: 学习 is the reminder's content (a study reminder), not a bare prefix."""
    row = reminder(world, world.schedule("每周五 15:00 学习"))
    assert (row.kind, row.text) == ("study", "学习")
    with world.db.session() as session, pytest.raises(UserError, match="写上提醒内容"):
        world.reminders.schedule(session, secretary(), "每周五 15:00", now=NOW)


def test_a_rule_first_firing_on_a_rest_day_says_how_to_move_it(world: World) -> None:
    """The note names the rest day and the two /schedule commands; sent back, they fire on the
    working day after (顺延) and before (提前)."""
    command = "每月5号 9:00 收缴党费"
    with world.db.session() as session:
        made, first = world.reminders.schedule(session, secretary(), command, now=NOW)
    note = rest_day_note(command, first, made.number or 0, TZ)
    assert "12月5日（周六）" in note and f"/cancel {made.number}" in note
    moved = re.findall(r"/schedule (.+?（遇节假日(?:顺延|提前)）)", note)
    assert len(moved) == 2
    firsts = []
    for text in moved:
        with world.db.session() as session:
            again, fire = world.reminders.schedule(session, secretary(), text, now=NOW)
        assert again.text == "收缴党费" and fire is not None
        firsts.append(fire.astimezone(TZ).strftime("%m-%d %H:%M"))
        assert rest_day_note(text, fire, again.number or 0, TZ) == ""
    assert firsts == ["12-07 09:00", "12-04 09:00"]
    assert rest_day_note("每月7号 9:00 收缴党费", first + timedelta(days=2), 1, TZ) == ""


def test_only_secretaries_schedule_and_rules_are_explained(world: World) -> None:
    """A member is refused politely; a bad rule gets the reason and examples; a private chat is
    not a branch."""
    with world.db.session() as session, pytest.raises(UserError, match="仅限"):
        world.reminders.schedule(session, actor(MEMBER), "每天 08:00 学习", now=NOW)
    with world.db.session() as session, pytest.raises(UserError) as error:
        world.reminders.schedule(session, secretary(), "下个月找时间 开会", now=NOW)
    assert "无法识别" in str(error.value) and "每月最后一个周五" in str(error.value)
    with world.db.session() as session, pytest.raises(UserError, match="支部群"):
        world.reminders.schedule(session, actor(SECRETARY, SECRETARY), "每天 08:00 学习",
                                 now=NOW)
    with world.db.session() as session, pytest.raises(UserError, match="管理员"):
        world.reminders.schedule(session, secretary(), "全部支部 每天 08:00 学习", now=NOW)


def test_cancel_and_list(world: World) -> None:
    """/cancel takes a reminder out of /reminders; another branch's number is not found."""
    world.schedule("每天 08:00 早读")
    world.schedule("每周一 08:30 支部学习")
    with world.db.session() as session:
        world.reminders.cancel(session, secretary(), "#2", now=NOW)
    with world.db.session() as session:
        assert [v.number for v in world.reminders.listing(session, secretary(), now=NOW)] == [1]
        with pytest.raises(UserError, match="已经取消"):
            world.reminders.cancel(session, secretary(), "2", now=NOW)
        with pytest.raises(UserError, match="本群没有编号为 1 的提醒"):
            world.reminders.cancel(session, actor(SECRETARY, -999, admin=True), "1", now=NOW)
        with pytest.raises(UserError, match="用法"):
            world.reminders.cancel(session, secretary(), "abc", now=NOW)


def test_numbers_start_at_one_in_each_branch_whatever_the_system_holds(world: World) -> None:
    """The daily duty digest (a system reminder made at start) takes no number: a secretary's
    first reminder is #1, and each branch counts its own."""
    with world.db.session() as session:
        world.reminders.ensure_digest(session, NOW)
    first = world.schedule("每天 08:00 早读")
    second = world.schedule("每周一 08:30 支部学习")
    elsewhere = world.schedule("每周二 08:30 学习", actor(SECRETARY, OTHER_BRANCH, admin=True))
    with world.db.session() as session:
        numbers = [session.get(Reminder, rid).number for rid in (first, second, elsewhere)]
    assert numbers == [1, 2, 1] and first > 1


def test_cancel_in_private_names_the_branch_and_asks_which_when_several(world: World) -> None:
    """Privately, /cancel N looks in the branches the secretary runs: one match is cancelled
    and its branch named; a number used in two branches is asked about, then `/cancel N 支部`
    picks one; a branch the secretary does not run is never touched."""
    world.schedule("每天 08:00 早读")
    world.schedule("每周二 08:30 学习", actor(SECRETARY, OTHER_BRANCH, admin=True))
    world.schedule("每周三 08:30 党课", actor(SECRETARY, OTHER_BRANCH, admin=True))
    private = actor(SECRETARY, SECRETARY)
    with world.db.session() as session:
        session.add(Chat(id=OTHER_BRANCH, title="第二支部", type="supergroup"))
    both = [BRANCH, OTHER_BRANCH]
    with world.db.session() as session:
        reminder, branch = world.reminders.cancel(session, private, "2", now=NOW, branches=both)
    assert (reminder.text, branch) == ("党课", "第二支部")
    with world.db.session() as session, pytest.raises(UserError) as asked:
        world.reminders.cancel(session, private, "1", now=NOW, branches=both)
    assert str(asked.value).splitlines() == [
        "编号 1 在几个支部都有提醒，请注明支部：",
        "/cancel 1 第一支部（每天 08:00｜早读）",
        "/cancel 1 第二支部（每周二 08:30｜学习）",
    ]
    with world.db.session() as session:
        reminder, branch = world.reminders.cancel(session, private, "1 第二", now=NOW,
                                                  branches=both)
    assert (reminder.text, branch) == ("学习", "第二支部")
    with world.db.session() as session, pytest.raises(UserError, match="您管理的支部没有编号为 3"):
        world.reminders.cancel(session, private, "3", now=NOW, branches=both)
    world.schedule("每周四 08:30 党课", actor(SECRETARY, OTHER_BRANCH, admin=True))  # #3 there
    with world.db.session() as session, pytest.raises(UserError, match="您管理的支部没有编号为 3"):
        world.reminders.cancel(session, private, "3", now=NOW, branches=[BRANCH])
    with world.db.session() as session:
        assert [r.active for r in session.exec(select(Reminder).order_by(Reminder.id))] == [
            True, False, False, True]



# --- firing ------------------------------------------------------------------------------------

async def test_a_fire_is_sent_once_however_often_it_runs(world: World) -> None:
    """Running the same fire again (rebuilt job, second replica) sends nothing more."""
    rid = world.schedule("明天 09:00 交党费")
    fire_time = reminder(world, rid).created_at.replace(hour=1, minute=0) + timedelta(days=1)
    world.clock.now = fire_time
    await world.fire(rid, fire_time)
    await world.fire(rid, fire_time)
    await world.fire(rid, fire_time, worker="w2")
    assert [p.text for p in world.sender.to(BRANCH)] == ["⏰ 提醒：交党费"]
    assert [d.status for d in deliveries(world, rid)] == ["sent"]
    assert not reminder(world, rid).active  # a one-off is done


async def test_two_workers_racing_send_once(world: World) -> None:
    """Two replicas firing the same broadcast at the same moment: each chat gets it once."""
    rid, fire_time = broadcast(world, -2000, 30, "学习强国打卡提醒")
    slow = FakeSender(delay=0.001)
    await asyncio.gather(world.fire(rid, fire_time, "a", slow), world.fire(rid, fire_time, "b", slow))
    chats = [chat for chat, _ in slow.sent]
    assert len(chats) == len(set(chats)) == 31  # 30 branches and the first one
    assert all(d.status == "sent" for d in deliveries(world, rid))


async def test_a_late_fire_is_reported_to_the_secretary_not_sent(world: World) -> None:
    """Past its grace time (1 h for a notice) a fire goes to the secretary privately, once."""
    rid = world.schedule("每天 08:00 早读")
    fire_time = NOW + timedelta(hours=22)  # 08:00 next day
    world.clock.now = fire_time + timedelta(hours=2)
    await world.fire(rid, fire_time)
    await world.fire(rid, fire_time)
    assert world.sender.to(BRANCH) == []
    reports = world.sender.to(SECRETARY)
    assert len(reports) == 1 and "错过了" in reports[0].text and "08:00" in reports[0].text
    assert [d.status for d in deliveries(world, rid)] == ["missed"]
    assert reminder(world, rid).last_fire_at == fire_time


async def test_after_downtime_the_newest_fire_is_sent_once_older_ones_reported(world: World) -> None:
    """Three days down: today's 08:00 (within grace) is sent once; the two before are reported."""
    rid = world.schedule("每天 08:00 早读")
    newest = NOW + timedelta(days=3) - timedelta(hours=2)
    world.clock.now = newest + timedelta(minutes=20)
    await world.fire(rid, newest)  # APScheduler coalesces the three into the newest
    assert [p.text for p in world.sender.to(BRANCH)] == ["⏰ 提醒：早读"]
    report = world.sender.to(SECRETARY)
    assert len(report) == 1 and "最近一次已按时补发" in report[0].text
    assert "11月21日（周六）08:00、11月22日（周日）08:00" in report[0].text
    assert [d.status for d in deliveries(world, rid)] == ["missed", "missed", "sent"]


async def test_meeting_reminder_opens_an_activity_with_buttons(world: World) -> None:
    """A meeting reminder opens the activity (attendance) and carries [签到] [请假]; the
    secretary who scheduled it hosts it and is present."""
    rid = world.schedule("每周五 15:00 支部委员会会议 地点：三楼会议室")
    fire_time = NOW + timedelta(hours=5)
    world.clock.now = fire_time
    await world.fire(rid, fire_time)
    (post,) = world.sender.to(BRANCH)
    with world.db.session() as session:
        activity = session.exec(select(Activity)).one()
    assert [label for row in post.buttons for label, _ in row] == ["签到", "请假"]
    assert post.buttons[0][0][1] == f"att:in:{activity.id}"
    assert (activity.kind, activity.place, activity.starts_at) == ("支委会", "三楼会议室", fire_time)
    assert activity.message_id == 1  # the post is attached, so counts edit it later
    assert deliveries(world, rid)[0].activity_id == activity.id
    with world.db.session() as session:
        hosts = session.exec(select(Attendance.user_id, Attendance.method)).all()
    assert activity.host_id == SECRETARY and hosts == [(SECRETARY, "role")]


async def test_study_reminder_posts_a_task_with_a_button(world: World) -> None:
    """A study reminder posts a study task with [已学习]."""
    rid = world.schedule("每周一 08:30 学习《中国共产党章程》")
    fire_time = NOW + timedelta(days=2, hours=22, minutes=30)
    world.clock.now = fire_time
    await world.fire(rid, fire_time)
    (post,) = world.sender.to(BRANCH)
    with world.db.session() as session:
        task = session.exec(select(StudyTask)).one()
    assert post.buttons == ((("已学习", f"study:done:{task.id}"),),)
    assert task.content == "学习《中国共产党章程》" and task.message_id == 1


async def test_a_chat_that_removed_the_bot_is_marked_and_the_secretary_told(world: World) -> None:
    """Forbidden: the chat is marked unreachable, the secretary told once, no more attempts."""
    rid = world.schedule("每天 08:00 早读")
    world.sender.unreachable.add(BRANCH)
    first = NOW + timedelta(hours=22)
    world.clock.now = first
    await world.fire(rid, first)
    await world.fire(rid, first + timedelta(days=1))
    with world.db.session() as session:
        assert not session.get(Chat, BRANCH).reachable
    told = world.sender.to(SECRETARY)
    assert len(told) == 1 and "无法在群" in told[0].text
    assert [d.status for d in deliveries(world, rid)] == ["unreachable", "unreachable"]
    with world.db.session() as session:
        world.reminders.set_reachable(session, BRANCH, True)
    world.sender.unreachable.clear()
    await world.fire(rid, first + timedelta(days=2))
    assert len(world.sender.to(BRANCH)) == 1


async def test_an_interrupted_send_is_never_repeated(world: World) -> None:
    """A send cut off (timeout) may have arrived: recorded as uncertain, reported, not resent."""
    rid = world.schedule("每天 08:00 早读")
    fire_time = NOW + timedelta(hours=22)
    world.clock.now = fire_time
    world.sender.cut_off.add(BRANCH)
    await world.fire(rid, fire_time)
    world.sender.cut_off.clear()
    await world.fire(rid, fire_time)
    assert world.sender.to(BRANCH) == []
    assert [d.status for d in deliveries(world, rid)] == ["uncertain"]
    assert "可能未送达" in world.sender.to(SECRETARY)[0].text


async def test_a_worker_that_died_mid_send_is_not_repeated(world: World) -> None:
    """A worker killed with sends in flight (its task cancelled where it waits, as a killed
    process stops, with no handler run) leaves them 'sending': the next worker marks them
    uncertain and reports them, and sends only the rows nobody had started."""
    rid, fire_time = broadcast(world, -3000, 12)
    dying = FakeSender(hold_after=0)  # every send hangs: the process is about to die
    killed = asyncio.ensure_future(world.fire(rid, fire_time, worker="dead", sender=dying))
    await until(lambda: len(dying.held) == SEND_CONCURRENCY)
    killed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await killed
    await world.fire(rid, fire_time, worker="alive")
    groups = [chat for chat, _ in world.sender.sent if chat < 0]
    everyone = {BRANCH, *range(-3011, -2999)}
    assert sorted(groups) == sorted(everyone - set(dying.held)) and dying.sent == []
    statuses = {d.chat_id: d.status for d in deliveries(world, rid)}
    assert {c for c, status in statuses.items() if status == "uncertain"} == set(dying.held)
    (report,) = world.sender.to(ADMIN)  # the admin who scheduled it hears of it privately
    assert f"{SEND_CONCURRENCY} 个群可能未送达" in report.text


async def test_stopping_mid_broadcast_then_resuming_loses_and_repeats_nothing(world: World) -> None:
    """A stop during a broadcast leaves the rest pending; the next run sends exactly those."""
    rid, fire_time = broadcast(world, -4000, 40)
    sender = FakeSender()
    await world.reminders.fire(rid, fire_time, sender, worker="first",
                               stopping=lambda: len(sender.sent) >= 10)
    sent_first = len(sender.sent)
    assert 10 <= sent_first <= 10 + SEND_CONCURRENCY  # those already started finish
    assert reminder(world, rid).last_fire_at is None  # not finished: will be resumed
    world.clock.now = fire_time + timedelta(minutes=3)
    await world.reminders.fire(rid, fire_time, sender, worker="second")
    chats = [chat for chat, _ in sender.sent]
    assert len(chats) == len(set(chats)) == 41
    assert reminder(world, rid).last_fire_at == fire_time


async def test_duty_digest_goes_to_the_secretary_privately(world: World) -> None:
    """Seven days before the month ends, the monthly duties reach the secretary in private."""
    with world.db.session() as session:
        world.reminders.ensure_digest(session, NOW)
        rid = session.exec(select(Reminder.id).where(Reminder.system_key == "duty-digest")).one()
    fire_time = NOW.replace(day=23, hour=1)  # 2026-11-23 09:00 in Shanghai
    world.clock.now = fire_time
    await world.fire(rid, fire_time)
    (digest,) = world.sender.to(SECRETARY)
    assert "还有7天截止" in digest.text and "召开支部委员会会议" in digest.text
    assert "【第一支部】" in digest.text and "/done" in digest.text
    assert world.sender.to(BRANCH) == []
