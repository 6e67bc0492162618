"""Questions through the real Application: /ask, private text, group mentions and replies,
the 更多 button, Telegram-safe HTML, document uploads and the command menu."""

from __future__ import annotations

import pytest
from harness import BotHarness
from sqlmodel import select

from bot.app import BOT_COMMANDS, on_startup
from bot.services import build_services
from bot.services.qa import Answer, QAResult
from handlers.qa import render_answer
from storage.models import Document

MEMBER, SECRETARY, GROUP = 501, 502, -100777
SAMPLE_QUESTION = "廉政党课一年讲几次"


@pytest.fixture
async def bot(settings):
    async with BotHarness(build_services(settings)) as harness:
        yield harness


def sent(calls):
    return [c for c in calls if c.method == "sendMessage"]


async def test_ask_answers_with_the_passage_and_its_source(bot):
    calls = await bot.send(f"/ask {SAMPLE_QUESTION}", user_id=MEMBER)
    [reply] = sent(calls)
    assert reply.params["parse_mode"] == "HTML"
    assert reply.text.startswith("📖 出处：《2026年党建工作要点》")
    assert "廉政党课" in reply.text and "<b>" in reply.text


async def test_plain_text_in_a_private_chat_is_a_question(bot):
    [reply] = sent(await bot.send(SAMPLE_QUESTION, user_id=MEMBER))
    assert "廉政党课" in reply.text


async def test_group_chatter_is_ignored_but_a_mention_is_answered_in_thread(bot):
    assert await bot.send(SAMPLE_QUESTION, user_id=MEMBER, chat_id=GROUP) == []
    payload = bot.updates.message(f"@dangjian_bot {SAMPLE_QUESTION}", user_id=MEMBER,
                                  chat_id=GROUP)
    [reply] = sent(await bot.process(payload))
    assert int(reply.params["chat_id"]) == GROUP
    assert reply.params["reply_parameters"]["message_id"] == payload["message"]["message_id"]
    assert "廉政党课" in reply.text


async def test_a_reply_to_the_bot_in_a_group_is_a_question(bot):
    [first] = sent(await bot.send(f"/ask {SAMPLE_QUESTION}", user_id=MEMBER, chat_id=GROUP))
    calls = await bot.send("主题党日多久搞一次", user_id=MEMBER, chat_id=GROUP,
                           reply_to=first.result)
    [reply] = sent(calls)
    assert "主题党日" in reply.text


async def test_more_button_shows_the_next_answer_in_place(bot):
    payload = bot.updates.message(f"/ask {SAMPLE_QUESTION}", user_id=MEMBER)
    [reply] = sent(await bot.process(payload))
    assert [label for label, _ in reply.buttons] == ["更多"]
    message = {**reply.result, "reply_to_message": payload["message"]}
    calls = await bot.process(bot.updates.callback("qa:more:1", user_id=MEMBER, message=message))
    [edit] = [c for c in calls if c.method == "editMessageText"]
    assert edit.text.startswith("（第2条相关内容）") and edit.text != reply.text
    assert any(c.method == "answerCallbackQuery" for c in calls)


async def test_questions_the_plan_does_not_cover_get_an_honest_answer(bot):
    [reply] = sent(await bot.send("/ask 加班费怎么算，周末加班给几倍？", user_id=MEMBER))
    assert "没有找到" in reply.text and "支部书记" in reply.text
    assert reply.buttons == []


def test_a_low_confidence_answer_opens_with_a_line_saying_the_plan_does_not_say_it():
    answer = Answer(text="1.开展职工读书会。每月组织一次。", source="《要点》 一、 › 1.开展职工读书会",
                    score=1.0, highlight="每月组织一次。")
    low = render_answer(QAResult("青年大学习多久一次", "low", [answer]), 0)
    assert low.splitlines()[0] == "工作要点中没有直接写到这一点，最相关的是："
    assert "<b>每月组织一次。</b>" in low
    high = render_answer(QAResult("读书会多久一次", "high", [answer]), 0)
    assert high.startswith("📖 出处：") and "没有直接写到" not in high
    none = render_answer(QAResult("加班费怎么算", "none", []), 0)
    assert "没有找到" in none and "支部书记" in none


@pytest.mark.parametrize(("text", "expected"), [("/ask", "用法：/ask 问题"),
                                                 ("/ask " + "党" * 600, "问题太长")])
async def test_bad_questions_get_a_reason(bot, text, expected):
    [reply] = sent(await bot.send(text, user_id=MEMBER))
    assert expected in reply.text


async def test_passages_are_html_escaped_and_within_telegram_limits(bot):
    plan = "2031年要点\n一、测试\n1.符号处理。严格执行<规定>&标准，每月检查一次符号处理。\n"
    bot.services.qa.ingest_upload("symbols.txt", plan.encode())
    [reply] = sent(await bot.send("/ask 符号处理多久检查一次", user_id=MEMBER))
    assert "&lt;规定&gt;&amp;标准" in reply.text
    assert len(reply.text) < 4096


async def upload(bot, name: str, content: bytes, *, user_id: int, chat_id: int):
    file_id = f"file-{name}"
    bot.api.add_file(file_id, content)
    document = {"file_id": file_id, "file_unique_id": file_id, "file_name": name,
                "file_size": len(content)}
    return sent(await bot.process(bot.updates.message(
        "", user_id=user_id, chat_id=chat_id, document=document)))


async def test_a_branch_upload_answers_that_branchs_members_only(bot):
    """A secretary's upload is the branch's: its members are answered from it, in the group and
    privately; a member of no such branch is not."""
    bot.make_admin(GROUP, SECRETARY)
    plan = "2031年团建要点\n一、青年工作\n1.开展青年读书会。每两个月举办一次青年读书会。\n"
    [reply] = await upload(bot, "youth.txt", plan.encode(), user_id=SECRETARY, chat_id=GROUP)
    assert "已加入知识库：《2031年团建要点》" in reply.text and "支部文件" in reply.text
    [outsider] = sent(await bot.send("/ask 青年读书会多久办一次", user_id=MEMBER))
    assert "每两个月" not in outsider.text
    [in_group] = sent(await bot.send("/ask 青年读书会多久办一次", user_id=MEMBER, chat_id=GROUP))
    assert "每两个月" in in_group.text
    [in_private] = sent(await bot.send("/ask 青年读书会多久办一次", user_id=MEMBER))
    assert "每两个月" in in_private.text


async def test_a_member_cannot_upload_and_bad_files_are_refused(bot):
    bot.make_admin(GROUP, SECRETARY)
    [refusal] = await upload(bot, "x.txt", "一、内容".encode(), user_id=MEMBER, chat_id=GROUP)
    assert "只有支部书记或管理员" in refusal.text
    [wrong_type] = await upload(bot, "x.exe", b"MZ", user_id=SECRETARY, chat_id=GROUP)
    assert "不支持的文件类型" in wrong_type.text
    [broken] = await upload(bot, "x.docx", b"garbage", user_id=SECRETARY, chat_id=GROUP)
    assert "无法读取" in broken.text
    with bot.services.db.session() as session:
        assert session.exec(select(Document)).all() == []


async def test_start_and_help_list_the_commands(bot):
    [reply] = sent(await bot.send("/start", user_id=MEMBER))
    assert "/ask" in reply.text and "/checkin" in reply.text


async def test_the_command_menu_is_registered_in_chinese(bot):
    await on_startup(bot.app)
    [call] = [c for c in bot.api.calls if c.method == "setMyCommands"]
    commands = {c["command"]: c["description"] for c in call.params["commands"]}
    assert set(commands) >= {c.command for c in BOT_COMMANDS}
    assert commands["ask"] == "查询党建工作要点"
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in d) for d in commands.values())


async def test_questions_are_answered_while_the_database_is_down(bot):
    """The index lives in memory: a member still gets answers, and writes say 稍后重试."""
    from storage.db import Database

    await bot.send("/start", user_id=MEMBER)  # seen while the database was up
    await bot.send("/start", user_id=MEMBER, chat_id=GROUP)
    bot.services.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/unreachable")
    bot.services.qa.db = bot.services.db
    replies = sent(await bot.send(SAMPLE_QUESTION, user_id=MEMBER))
    [answer] = replies
    assert "廉政党课" in answer.text
    [refusal] = sent(await bot.send("/checkin", user_id=MEMBER, chat_id=GROUP))
    assert "稍后重试" in refusal.text


async def test_a_renamed_member_is_stored_again(bot):
    from storage.models import Member

    await bot.send("/start", user_id=MEMBER, name="张三")
    await bot.send(SAMPLE_QUESTION, user_id=MEMBER, name="张三")
    await bot.send(SAMPLE_QUESTION, user_id=MEMBER, name="张三丰")
    with bot.services.db.session() as session:
        assert session.get(Member, MEMBER).display_name == "张三丰"


async def test_open_mode_is_told_to_group_admins_in_start(settings):
    """Without DANGJIAN_ADMINS every group is served, and its admins learn the bot is open."""
    open_settings = settings.model_copy(update={"admins": frozenset()})
    async with BotHarness(build_services(open_settings), register_groups=False) as harness:
        harness.make_admin(GROUP, SECRETARY)
        [admin] = sent(await harness.send("/start", user_id=SECRETARY, chat_id=GROUP))
        [member] = sent(await harness.send("/start", user_id=MEMBER, chat_id=GROUP))
    assert "开放模式" in admin.text and "开放模式" not in member.text
