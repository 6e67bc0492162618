"""The real `dangjian run` on WeCom only, as an AI bot over the fake long connection: the same
flows Telegram's and Feishu's tests drive, with what WeCom lacks made up on our side (branches
bound by a global admin, secretaries granted), cards updated in a tap's window, repeats handled
once, a kill losing nothing and a rate limit waited out."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botproc import PlatformBot, refused_start, wait_for
from botproc import said as sent_to
from fakes.wecom import RATE_LIMITED, Card, FakeWeCom

ADMIN, SECRETARY, MEMBER, MEMBER2, MEMBER3 = ("admin01", "wangshuji", "lidangyuan", "zhangsan",
                                              "zhaosi")
BRANCH, OTHER = "wrbranch01", "wrother01"


class WeComBot(PlatformBot):
    """`python -m bot.cli run` with only WeCom configured."""

    def __init__(self, fake: FakeWeCom, workdir: Path) -> None:
        super().__init__({**fake.env(), "DANGJIAN_ADMINS": f"wecom:{ADMIN}"}, workdir, "wecom")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeCom]:
    server = FakeWeCom()
    with server.in_thread():
        yield server


@pytest.fixture(scope="module")
def bot(fake: FakeWeCom, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeComBot]:
    process = WeComBot(fake, tmp_path_factory.mktemp("wecom")).start()
    yield process
    if process.process is not None:
        assert process.end() == 0


def say(fake: FakeWeCom, chat: str, sender: str, text: str, *, group: bool = True) -> str:
    return fake.run(fake.push(fake.text_message(chat, sender, text, group=group)))


def said(fake: FakeWeCom, chat: str, words: str, since: int = 0) -> str:
    return sent_to(fake.texts, chat, words, since)


def notice(fake: FakeWeCom) -> Card:
    return next(m for m in fake.sent[BRANCH] if isinstance(m, Card) and "主题党日" in m.text)


def test_readiness_names_wecom(fake: FakeWeCom, bot: WeComBot) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{bot.port}/readyz", timeout=5) as answer:
        assert json.load(answer)["platforms"] == {"wecom": "running"}
    assert fake.subscriptions == 1 and "WeCom long connection open and subscribed" in bot.log()


def test_help_in_private_says_how_roles_are_kept(fake: FakeWeCom, bot: WeComBot) -> None:
    say(fake, ADMIN, ADMIN, "/help", group=False)
    said(fake, ADMIN, "支部书记由组织管理员或支部书记用 /grant 成员 授予")
    text = "\n".join(fake.texts(ADMIN))  # in pieces of at most 4000 bytes
    assert text.startswith("**党建助手** 可以") and "/bind 支部名称 登记" in text
    assert all(len(piece.encode()) <= 4000 for piece in fake.texts(ADMIN))


def test_an_unregistered_group_gets_the_one_line(fake: FakeWeCom, bot: WeComBot) -> None:
    say(fake, OTHER, MEMBER, "/checkin")
    assert said(fake, OTHER, "本群尚未登记为党支部") == \
        "本群尚未登记为党支部，请组织管理员在群内发送 /bind 支部名称。"


def test_the_global_admin_binds_the_branch_and_grants_a_secretary(
        fake: FakeWeCom, bot: WeComBot) -> None:
    say(fake, BRANCH, ADMIN, "/bind 第一党支部")
    said(fake, BRANCH, "已登记为党支部：第一党支部")
    before = len(fake.texts(BRANCH))
    say(fake, BRANCH, SECRETARY, "/checkin")  # seen in the group: a member it can name
    wait_for(lambda: len(fake.texts(BRANCH)) > before)
    say(fake, BRANCH, ADMIN, f"/grant @{SECRETARY}")
    said(fake, BRANCH, f"已授予 {SECRETARY} 本支部书记权限")


def test_a_notice_is_a_card_its_taps_count_once_and_update_it(
        fake: FakeWeCom, bot: WeComBot) -> None:
    say(fake, BRANCH, SECRETARY, "/remind 现在 主题党日 地点：三楼会议室")
    card = wait_for(lambda: notice(fake) if any(
        isinstance(m, Card) and "主题党日" in m.text for m in fake.sent.get(BRANCH, [])) else None)
    assert list(card.keys()) == ["签到", "请假"]
    assert "已签到 1 / 请假 0" in card.text  # the secretary hosts it
    tap = fake.tap(card, MEMBER, "签到")
    rid = fake.run(fake.push(tap))
    wait_for(lambda: "已签到 2" in fake.cards[card.task_id].text,
             why=lambda: fake.cards[card.task_id].text)
    assert rid in [f.req_id for f in fake.of("aibot_respond_update_msg")]
    fake.run(fake.push(tap, req_id=rid))  # WeCom delivers the same callback again
    fake.run(fake.push(fake.tap(card, MEMBER2, "签到")))
    wait_for(lambda: "已签到 3" in fake.cards[card.task_id].text,
             why=lambda: fake.cards[card.task_id].text)
    assert "已签到 4" not in fake.cards[card.task_id].text


def test_leave_asks_the_reason_privately(fake: FakeWeCom, bot: WeComBot) -> None:
    """[请假] has no toast to ask in: the member is asked in the private chat and answers
    there."""
    fake.run(fake.push(fake.tap(notice(fake), "qianwu", "请假")))
    said(fake, "qianwu", "请直接回复请假原因")
    say(fake, "qianwu", "qianwu", "出差在外", group=False)
    assert "出差在外" in said(fake, "qianwu", "出差在外")


def test_a_member_is_refused_politely_once_when_the_callback_comes_twice(
        fake: FakeWeCom, bot: WeComBot) -> None:
    before = len(fake.texts(BRANCH))
    message = fake.text_message(BRANCH, MEMBER, "/task 学习党章")
    rid = fake.run(fake.push(message))
    fake.run(fake.push(message, req_id=rid))  # the same callback again
    assert "仅限本支部书记" in said(fake, BRANCH, "仅限", since=before)
    say(fake, BRANCH, MEMBER, "/checkin 999")  # once this is answered, the repeat was too
    said(fake, BRANCH, "999", since=before)
    assert sum("仅限" in t for t in fake.texts(BRANCH)[before:]) == 1


def test_members_ask_by_mentioning_the_bot(fake: FakeWeCom, bot: WeComBot) -> None:
    before = len(fake.texts(BRANCH))
    say(fake, BRANCH, MEMBER, "廉政党课怎么安排")
    assert "出处" in said(fake, BRANCH, "出处", since=before)


def test_a_secretarys_file_joins_the_knowledge_base(fake: FakeWeCom, bot: WeComBot) -> None:
    """A file sent privately: named by its download, decrypted, ingested into the branch."""
    plan = "# 支部学习安排\n\n## 一、读书班\n\n每季度举办一次读书班，由支部书记主持。\n".encode()
    fake.run(fake.push(fake.file_message(SECRETARY, SECRETARY, "学习安排.md", plan,
                                         group=False)))
    assert "支部文件" in said(fake, SECRETARY, "✅ 已加入知识库：")


def test_the_roster_is_imported_by_quoting_the_file(fake: FakeWeCom, bot: WeComBot) -> None:
    """A WeCom file has no caption: the secretary quotes it with /roster 导入."""
    roster = "姓名,党小组\n王书记,第一党小组\n李党员,第一党小组\n张三,第二党小组\n".encode()
    file = fake.file_message(SECRETARY, SECRETARY, "名册.csv", roster, group=False)
    fake.run(fake.push(file))
    before = len(fake.texts(SECRETARY))
    say(fake, SECRETARY, SECRETARY, "/roster 导入", group=False)  # quoting nothing
    said(fake, SECRETARY, "请回复名册文件", since=before)
    fake.run(fake.push(fake.text_message(SECRETARY, SECRETARY, "/roster 导入", group=False,
                                         quote=file)))
    assert "共 3 人" in said(fake, SECRETARY, "✅ 名册已导入", since=before)


def test_stats_draw_a_chart_and_the_list_goes_privately(fake: FakeWeCom,
                                                        bot: WeComBot) -> None:
    """The chart is uploaded over the connection and pushed as an image."""
    say(fake, BRANCH, SECRETARY, "/stats")
    said(fake, SECRETARY, "未响应")
    said(fake, BRANCH, "[image:stats.png]")
    assert any(kind == "image" and data.startswith(b"\x89PNG")
               for kind, _name, data in fake.media.values())


def test_nothing_is_lost_or_doubled_across_a_kill(fake: FakeWeCom, bot: WeComBot) -> None:
    """Killed, the bot misses nothing: what WeCom delivers on the new connection is handled,
    and the tap's card is updated in its window."""
    card = notice(fake)
    bot.end(signal.SIGKILL)
    fake.run(asyncio.wait_for(fake.until(lambda: not fake.connected), 10))
    fake.run(fake.push(fake.tap(card, MEMBER3, "签到")))  # held: no connection
    bot.start()
    wait_for(lambda: "已签到 4" in fake.cards[card.task_id].text,
             why=lambda: fake.cards[card.task_id].text + bot.log()[-2000:])
    assert "reconnecting" not in bot.log()  # a fresh process, a first connection


def test_a_storm_of_taps_is_recorded_once_each_and_shown(fake: FakeWeCom,
                                                          bot: WeComBot) -> None:
    """Sixty members tap 签到 at once, each twice (WeCom repeating the callback): every tap
    counted once, and the card ends showing all of them (updated in the last taps' window)."""
    card = notice(fake)
    before = int(re.search(r"已签到 (\d+)", fake.cards[card.task_id].text)[1])  # type: ignore[index]
    taps = [fake.tap(card, f"storm{n:02d}", "签到") for n in range(60)]

    async def storm() -> None:
        ids = [await fake.push(tap) for tap in taps]
        for tap, rid in zip(taps, ids, strict=True):
            await fake.push(tap, req_id=rid)

    started = time.monotonic()
    fake.run(storm())
    wait_for(lambda: f"已签到 {before + 60} " in fake.cards[card.task_id].text, 30,
             lambda: fake.cards[card.task_id].text)
    print(f"60 taps (and their repeats) shown on the card in {time.monotonic() - started:.2f} s")


def test_a_rate_limit_is_waited_out_and_the_reply_sent_once(
        fake: FakeWeCom, bot: WeComBot) -> None:
    before = len(fake.texts(MEMBER2))
    fake.rate_limit(1)
    say(fake, MEMBER2, MEMBER2, "/help", group=False)
    said(fake, MEMBER2, "党建助手", since=before)
    assert sum("党建助手" in t for t in fake.texts(MEMBER2)[before:]) == 1
    assert any(f.errcode == RATE_LIMITED for f in fake.of("aibot_send_msg"))
    assert "retry 1 in 1.0 s" in bot.log()


def test_a_dropped_connection_is_opened_again(fake: FakeWeCom, bot: WeComBot) -> None:
    subscriptions = fake.subscriptions
    fake.run(fake.disconnect())
    wait_for(lambda: fake.subscriptions > subscriptions, 20)
    assert "reconnecting in 1 s (attempt 1)" in bot.log()
    before = len(fake.texts(MEMBER))
    say(fake, MEMBER, MEMBER, "/help", group=False)
    said(fake, MEMBER, "党建助手", since=before)


def test_wrong_credentials_end_the_run_with_a_reason(fake: FakeWeCom, tmp_path: Path) -> None:
    env = {**WeComBot(fake, tmp_path).env, "WECOM_BOT_SECRET": "wrong"}
    assert "企业微信拒绝了智能机器人的凭证" in refused_start(env)
