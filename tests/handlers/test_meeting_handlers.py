"""Meeting records through the real Application: a photo or file replying to a notice, or
captioned /minutes, goes into the meeting's record; other photos and files pass on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from attendance_bot import attendance_bot, texts
from attendance_world import BRANCH, SECRETARY, START
from sqlmodel import select

from bot.config import Settings
from storage.models import Document, MeetingFile

DURING = START + timedelta(minutes=10)


def photo(bot, user_id: int, reply_to: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    payload = bot.updates.message("", user_id=user_id, chat_id=BRANCH, reply_to=reply_to,
                                  date=int(DURING.timestamp()))
    payload["message"]["photo"] = [
        {"file_id": "small", "file_unique_id": "P-small", "width": 90, "height": 90},
        {"file_id": "large", "file_unique_id": "P-large", "width": 800, "height": 600,
         "file_size": 120000},
    ]
    return payload


async def test_a_photo_replying_to_the_notice_is_kept_once(settings: Settings) -> None:
    """The secretary's photo in reply to the notice is kept (the largest size), a repeat adds
    nothing; a member's photo in reply is not a record and gets no answer."""
    async with attendance_bot(settings, DURING) as bot:
        calls = await bot.say("/remind 现在 支委会 研究发展党员", SECRETARY, BRANCH)
        [post] = [c for c in calls if c.method == "sendMessage"]
        kept = await bot.process(photo(bot, SECRETARY, post.result))
        again = await bot.process(photo(bot, SECRETARY, post.result))
        ignored = await bot.process(photo(bot, 2, post.result))
        with bot.services.db.session() as session:
            files = [(f.file_id, f.name, f.kind) for f in session.exec(select(MeetingFile))]
    assert texts(kept, chat_id=BRANCH) == ["✅ 已记入活动 #1「支委会 研究发展党员」：附件（将写入台账）。"]
    assert texts(again, chat_id=BRANCH) == ["活动 #1 的记录没有变化（内容与已存的相同）。"]
    assert texts(ignored) == []
    assert files == [("large", "照片1", "photo")]


async def test_a_file_for_a_meeting_to_come_is_refused_and_not_taken_for_a_plan(
        settings: Settings) -> None:
    """A file captioned /minutes for tomorrow's meeting is answered with why, and is neither
    kept nor added to the knowledge base; /minutes without a number asks for one."""
    async with attendance_bot(settings, DURING) as bot:
        await bot.say("/remind 明天下午3点 支部大会", SECRETARY, BRANCH)
        bot.api.files["doc1"] = b"minutes"
        payload = bot.updates.message(
            "/minutes 1 纪要：提前写", user_id=SECRETARY, chat_id=BRANCH,
            document={"file_id": "doc1", "file_unique_id": "doc1", "file_name": "纪要.txt",
                      "file_size": 7})
        refused = await bot.process(payload)
        asked = await bot.say("/minutes 纪要：没有编号", SECRETARY, BRANCH)
        with bot.services.db.session() as session:
            stored = session.exec(select(MeetingFile)).all()
            plans = session.exec(select(Document.name)).all()
    [answer] = texts(refused, chat_id=BRANCH)
    assert answer.startswith("活动 #1 尚未召开") and stored == [] and "纪要.txt" not in plans
    assert texts(asked, chat_id=BRANCH)[0].startswith("请写明活动号，或回复该活动的通知。")
