"""What members type that is almost right: a full-width or spaced slash, a misspelt command,
a question in English — each still gets them where they meant to go."""

from __future__ import annotations

import pytest
from harness import BotHarness

from bot.services import build_services
from bot.services.qa import in_english
from handlers.fallback import nearest_command
from handlers.slash import as_command

MEMBER, GROUP = 501, -100777


@pytest.fixture
async def bot(settings):
    async with BotHarness(build_services(settings)) as harness:
        yield harness


def texts(calls):
    return [c.text for c in calls if c.method == "sendMessage"]


@pytest.mark.parametrize(("typed", "command"), [
    ("／me", "/me"), ("/ me", "/me"), ("／ｍｅ", "/me"), ("／me 张三", "/me 张三"),
    ("／me张三", "/me 张三"), ("／ｃｈｅｃｋｉｎ 3", "/checkin 3"),
    ("／leave 4 出差", "/leave 4 出差"), ("／ｍｅ＠dangjian_bot", "/me@dangjian_bot"),
    ("/me", None), ("/ 这是什么", None), ("我想看 ／me", None), ("／", None),
])
def test_a_loose_slash_reads_as_the_command(typed: str, command: str | None) -> None:
    assert as_command(typed) == command


@pytest.mark.parametrize(("typed", "nearest"), [
    ("chekin", "checkin"), ("stat", "stats"), ("remnd", "remind"), ("cancle", "cancel"),
    ("Checkin", "checkin"), ("hlep", "help"), ("xyz", None), ("mine", None),
])
def test_the_nearest_command(typed: str, nearest: str | None) -> None:
    known = {"start", "help", "checkin", "stats", "remind", "cancel", "me", "leave"}
    assert nearest_command(typed, known) == nearest


@pytest.mark.parametrize(("question", "english"), [
    ("How often do we hold branch meetings?", True), ("what is the plan", True),
    ("PPT 怎么做", False), ("三会一课多久开一次", False), ("ok", False), ("2026", False),
])
def test_a_question_in_english(question: str, english: bool) -> None:
    assert in_english(question) is english


async def test_a_full_width_slash_runs_the_command_in_private_and_in_a_group(bot) -> None:
    """`／me` from a Chinese keyboard is /me, not a question to the knowledge base."""
    direct = texts(await bot.send("/me", user_id=MEMBER))
    loose = texts(await bot.send("／me", user_id=MEMBER))
    spaced = texts(await bot.send("/ me", user_id=MEMBER))
    assert loose == direct == spaced and len(direct) == 1
    assert "出处" not in direct[0]
    in_group = texts(await bot.send("／help", user_id=MEMBER, chat_id=GROUP))
    assert in_group == texts(await bot.send("/help", user_id=MEMBER, chat_id=GROUP))


async def test_a_misspelt_command_gets_the_nearest_one(bot) -> None:
    """/chekin: did you mean /checkin — in private, and in a group too (it is surely ours);
    a command like no other still gets the plain answer in private and silence in a group."""
    [private] = texts(await bot.send("/chekin", user_id=MEMBER))
    [group] = texts(await bot.send("/chekin", user_id=MEMBER, chat_id=GROUP))
    assert private == group == "没有 /chekin 这个命令。您是想用 /checkin 吗？发送 /help 查看可用命令。"
    [unknown] = texts(await bot.send("/xyzzy", user_id=MEMBER))
    assert unknown == "没有这个命令。发送 /help 查看可用命令。"
    assert texts(await bot.send("/xyzzy", user_id=MEMBER, chat_id=GROUP)) == []
    [loose] = texts(await bot.send("／chekin", user_id=MEMBER))
    assert "您是想用 /checkin 吗？" in loose


async def test_an_english_question_gets_a_hint_to_ask_in_chinese(bot) -> None:
    """Plain English in private, with /ask, or to the bot in a group: the hint, not a passage
    the Chinese plans matched by accident."""
    for calls in (await bot.send("How often should we hold a Party lesson?", user_id=MEMBER),
                  await bot.send("/ask how do I pay dues", user_id=MEMBER),
                  await bot.send("@dangjian_bot what is the plan", user_id=MEMBER,
                                 chat_id=GROUP)):
        [hint] = texts(calls)
        assert hint.startswith("请用中文提问") and "Please ask in Chinese" in hint
