"""Study tasks and records on SQLite and PostgreSQL: due dates, repeats, notes, free entries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from attendance_world import (
    BRANCH,
    MEMBERS,
    OTHER,
    START,
    TZ,
    actor,
    other_secretary,
    populate,
    secretary,
)
from sqlmodel import select

from bot.services import UserError, study
from storage.db import Database
from storage.models import StudyRecord

MEMBER = actor(MEMBERS[0])


@pytest.fixture
def world(db: Database) -> Database:
    with db.session() as session:
        populate(session)
    return db


def records(db: Database) -> list[tuple]:
    with db.session() as session:
        return [
            (r.task_id, r.user_id, r.chat_id, r.content, r.note)
            for r in session.exec(select(StudyRecord).order_by(StudyRecord.id))
        ]


def post(db: Database, text: str = "学习《中国共产党章程》总纲 12月31日") -> int:
    with db.session() as session:
        return study.post_task(session, secretary(), text, now=START, tz=TZ).id  # type: ignore[return-value]


def test_task_with_due_date_and_its_post(world: Database) -> None:
    task_id = post(world)
    with world.session() as session:
        rendered = study.task_post(session, task_id)
        task = session.get(study.StudyTask, task_id)
    assert (task.content, task.due_date, task.chat_id) == (  # type: ignore[union-attr]
        "学习《中国共产党章程》总纲", date(2026, 12, 31), BRANCH
    )
    assert rendered.text.splitlines() == [
        f"📚 学习任务 #{task_id}：学习《中国共产党章程》总纲",
        "截止：12月31日（周四）",
        f"学习后请点【已学习】，或发送 /study {task_id} 心得体会",
        "已学习 0 人",
    ]
    assert rendered.buttons == ((("已学习", f"study:done:{task_id}"),),)


@pytest.mark.parametrize(
    ("text", "due"),
    [("学习党章，截止到下周五", date(2026, 11, 27)), ("学习党章 明天下午5点前", date(2026, 11, 21)),
     ("学习党章 截止：月底", date(2026, 11, 30)), ("学习党章", None)],
)
def test_deadlines_as_secretaries_write_them(world: Database, text: str, due: date | None) -> None:
    """The deadline is read off the end of the task (a time in it dropped); the rest is the
    task."""
    task_id = post(world, text)
    with world.session() as session:
        task = session.get(study.StudyTask, task_id)
    assert (task.content, task.due_date) == ("学习党章", due)  # type: ignore[union-attr]


def test_a_redelivered_task_command_posts_one_task(world: Database) -> None:
    with world.session() as session:
        first = study.post_task(session, secretary(), "学习党章", now=START, tz=TZ,
                                source_message_id=7)
    with world.session() as session:
        again = study.post_task(session, secretary(), "学习党章", now=START, tz=TZ,
                                source_message_id=7)
        assert len(session.exec(select(study.StudyTask)).all()) == 1
    assert again.id == first.id


@pytest.mark.parametrize(
    ("text", "reason"),
    [("学习党章 2026-11-01", "已过"), ("   ", "请写明学习内容"), ("学习党章 2月30日", "日期不存在")],
)
def test_bad_tasks_are_refused_with_usage(world: Database, text: str, reason: str) -> None:
    with world.session() as session, pytest.raises(UserError, match=reason):
        study.post_task(session, secretary(), text, now=START, tz=TZ)


@pytest.mark.parametrize(
    "who", [MEMBER, other_secretary(), actor(1, 1)], ids=["member", "secretary-elsewhere", "private"]
)
def test_only_this_branchs_secretaries_post_tasks(world: Database, who) -> None:
    with world.session() as session, pytest.raises(UserError):
        study.post_task(session, who, "学习党章", now=START, tz=TZ)


def test_double_tap_makes_one_record_and_a_note_updates_it(world: Database) -> None:
    task_id = post(world)
    with world.session() as session:
        first = study.complete_task(session, MEMBER, task_id, at=START, now=START)
    with world.session() as session:
        again = study.complete_task(session, MEMBER, task_id, at=START, now=START)
        noted = study.study(session, MEMBER, f"#{task_id} 深受教育", at=START, now=START,
                            source_message_id=10)
    assert first.changed and not again.changed and "已登记过" in again.text
    assert "已更新" in noted.text
    assert records(world) == [(task_id, MEMBER.user_id, BRANCH, "", "深受教育")]


def test_study_by_words_of_a_task_or_as_free_entry(world: Database) -> None:
    task_id = post(world)
    private = actor(3, 3)
    with world.session() as session:
        by_words = study.study(session, private, "党章总纲 心得：要学深悟透", at=START, now=START,
                               source_message_id=1)
        free = study.study(session, MEMBER, "读《习近平谈治国理政》第四卷 心得：收获很大", at=START,
                           now=START, source_message_id=2)
    with world.session() as session:
        repeat = study.study(session, MEMBER, "读《习近平谈治国理政》第四卷 心得：收获很大",
                             at=START, now=START, source_message_id=2)
    assert by_words.changed and not free.changed and repeat.record_id == 0
    assert records(world) == [
        (task_id, 3, BRANCH, "", "要学深悟透"),
        (None, MEMBER.user_id, BRANCH, "读《习近平谈治国理政》第四卷", "收获很大"),
    ]


def test_tasks_belong_to_their_branch(world: Database) -> None:
    task_id = post(world)
    with world.session() as session:
        with pytest.raises(UserError, match="不属于本群"):
            study.complete_task(session, actor(60, OTHER), task_id, at=START, now=START)
        with pytest.raises(UserError, match="不在该学习任务所属的支部"):
            study.complete_task(session, actor(60, 60), task_id, at=START, now=START)
        with pytest.raises(UserError, match="没有找到学习任务 #999"):
            study.study(session, MEMBER, "999", at=START, now=START, source_message_id=3)
        with pytest.raises(UserError, match="用法"):
            study.study(session, MEMBER, " ", at=START, now=START, source_message_id=4)


def test_old_tasks_are_not_matched_by_words(world: Database) -> None:
    post(world)
    later = START + study.MATCH_WINDOW + timedelta(days=1)
    with world.session() as session:
        outcome = study.study(session, MEMBER, "党章总纲", at=later, now=later, source_message_id=5)
    assert outcome.record_id == 0
