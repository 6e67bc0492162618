"""The real `dangjian run` process over HTTP: start-up, help, questions, uploads, logs, health."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from botproc import BotProcess
from conftest import ADMIN, seen_in_branch
from fake_bot_api import FakeBotApi, exchange

CJK = re.compile(r"[\u4e00-\u9fff]")
GROUP = -100500


@pytest.fixture(scope="module", autouse=True)
def members(api: FakeBotApi, bot: BotProcess) -> None:
    """The users who write privately here are members of a registered branch."""
    seen_in_branch(api, bot, GROUP, list(range(101, 110)))


def test_registers_chinese_command_menu(api: FakeBotApi, bot: BotProcess) -> None:
    """At start-up the command menu is registered once, every description in Chinese."""
    (call,) = api.calls_of("setMyCommands")
    commands = {c["command"]: c["description"] for c in call.params["commands"]}
    assert {"start", "help", "ask", "checkin", "stats", "export", "schedule"} <= set(commands)
    assert all(CJK.search(description) for description in commands.values())


def test_start_and_help_in_private(api: FakeBotApi, bot: BotProcess) -> None:
    """/start greets in Chinese and lists the commands; /help lists them too."""
    greeting = exchange(api, "/start", user_id=101)
    assert "党建助手" in greeting.text and "/ask" in greeting.text
    assert "/checkin" in exchange(api, "/help", user_id=101).text


def test_private_text_is_a_question_and_more_pages(api: FakeBotApi, bot: BotProcess) -> None:
    """Plain text in a private chat is answered with its source; 更多 shows the next passage."""
    answer = exchange(api, "宣传主题多久定一次？", user_id=102)
    assert "出处" in answer.text
    assert ("更多", "qa:more:1") in answer.buttons
    mark = api.mark()
    api.tap(answer, "更多", user_id=102)
    edited = api.wait_for(lambda c: c.method == "editMessageText", since=mark)
    assert "第2条相关内容" in edited.text
    api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark)


def test_ask_command_and_its_usage(api: FakeBotApi, bot: BotProcess) -> None:
    """/ask with a question answers it; without one the usage comes back."""
    assert "出处" in exchange(api, "/ask 宣传主题多久定一次？", user_id=103).text
    assert "用法" in exchange(api, "/ask", user_id=103).text


def test_group_answers_only_mentions_and_replies(api: FakeBotApi, bot: BotProcess) -> None:
    """In a group the bot keeps quiet on chatter, answers an @mention and a reply to itself."""
    mark = api.mark()
    api.send("今天天气不错", user_id=104, chat_id=GROUP)
    answer = exchange(api, "@dangjian_bot 宣传主题多久定一次？", user_id=104, chat_id=GROUP)
    assert "出处" in answer.text
    assert [c for c in api.calls[mark:] if c.method == "sendMessage"] == [answer]
    follow_up = exchange(api, "宣传阵地怎么管？", user_id=105, chat_id=GROUP,
                         reply_to=answer.result)
    assert "出处" in follow_up.text


def test_secretary_uploads_a_plan_members_cannot(api: FakeBotApi, bot: BotProcess) -> None:
    """A document from a member is refused; from an admin it is downloaded, indexed, answerable."""
    plan = (
        "2027年青年工作要点\n一、加强青年理论武装\n"
        "1.开展青年读书分享会。每季度组织一次青年读书分享会，交流学习心得。\n"
    ).encode()
    mark = api.mark()
    api.upload("青年工作要点.txt", plan, user_id=106)
    refusal = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == 106, since=mark)
    assert "只有支部书记或管理员" in refusal.text
    mark = api.mark()
    api.upload("青年工作要点.txt", plan, user_id=ADMIN)
    done = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ADMIN, since=mark)
    assert "已加入知识库" in done.text
    assert api.calls_of("getFile")
    answer = exchange(api, "青年读书分享会多久组织一次？", user_id=107)
    assert "青年工作要点" in answer.text and "每季度" in answer.text


def test_uploads_limited_by_type_and_size(api: FakeBotApi, bot: BotProcess) -> None:
    """An unsupported type and a file over 10 MB each get a one-line reason, and neither is
    downloaded."""
    downloads = len(api.calls_of("getFile"))
    mark = api.mark()
    api.upload("照片.exe", b"MZ\x00", user_id=ADMIN)
    reply = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ADMIN, since=mark)
    assert "不支持的文件类型" in reply.text
    huge = {"file_id": "huge", "file_unique_id": "huge", "file_name": "大文件.pdf",
            "file_size": 11 * 1024 * 1024}
    reply = exchange(api, "", user_id=ADMIN, document=huge)
    assert "文件过大" in reply.text
    assert len(api.calls_of("getFile")) == downloads


def test_one_log_line_per_update_without_private_text(api: FakeBotApi, bot: BotProcess) -> None:
    """Each update is logged once with chat, user, command, outcome and time; private text and
    the token never reach the log."""
    secret_words = "我的私人问题内容九八七"
    update = api.send(secret_words, user_id=108)
    api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == 108)
    update2 = api.send("/ask 另一个私人问题六五四", user_id=108)
    api.wait_confirmed(update2["update_id"])
    exchange(api, "/help", user_id=108)
    log = bot.log()
    lines = [line for line in log.splitlines() if f"update id={update['update_id']} " in line]
    assert len(lines) == 1
    assert re.search(r"chat=108 chat_type=private user=108 command=text outcome=ok ms=\d", lines[0])
    assert f"update id={update2['update_id']} chat=108 chat_type=private user=108 command=/ask" in log
    assert secret_words not in log and "六五四" not in log
    assert api.token not in log


def test_health_and_metrics_in_polling_mode(api: FakeBotApi, bot: BotProcess) -> None:
    """/healthz and /readyz answer, /metrics counts handled updates and latency."""
    exchange(api, "/help", user_id=109)
    assert bot.get("/healthz")[0] == 200
    status, body = bot.get("/readyz")
    assert status == 200 and '"database": "ok"' in body
    status, page = bot.get("/metrics")
    assert status == 200
    assert 'dangjian_updates_total{kind="/help",outcome="ok"}' in page
    assert bot.metric("dangjian_handler_seconds_count") >= 1
    assert "dangjian_reminders_sent_total" in page


def test_rejected_token_exits_with_a_reason(api: FakeBotApi, tmp_path: Path) -> None:
    """A token Telegram refuses stops `dangjian run` at once with exit code 2 and a reason."""
    process = BotProcess(api, tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                         TELEGRAM_BOT_TOKEN="123456:revoked")
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=process.env,
                            cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "Telegram 拒绝了 TELEGRAM_BOT_TOKEN" in result.stderr.decode()
