"""Property-based: whatever users throw at the bot, it answers in clear Chinese and never breaks.

Thousands of random texts, commands with random arguments, oversize messages, unknown button
data and unusual (but well-formed) updates go through the real Application in process; the
webhook decoder gets arbitrary bytes and JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import BotHarness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot

from bot.app import core_of
from bot.config import Settings
from bot.offline import BOT_USER
from bot.services import build_services
from bot.web import MalformedUpdate, decode_update

ADMIN, SECRETARY, MEMBER = 900, 501, 502
GROUPS = (-1001, -1002)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
GENERIC_FAILURE = "处理您的请求时出错了"
REPLY_METHODS = {"sendMessage", "editMessageText", "sendPhoto", "sendDocument"}
DECODING_BOT = Bot("123:abc")
FUZZ = settings(max_examples=1000, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


class Bench:
    """One started harness on a SQLite file, driven from synchronous hypothesis tests."""

    def __init__(self, tmp: Path) -> None:
        self.db_path = tmp / "fuzz.db"
        self.loop = asyncio.new_event_loop()
        services = build_services(Settings(
            DATABASE_URL=f"sqlite:///{self.db_path}", DANGJIAN_ADMINS=str(ADMIN),
            _env_file=None,
        ))
        self.harness = BotHarness(services)
        self.loop.run_until_complete(self.harness.__aenter__())
        for group in GROUPS:
            self.harness.make_admin(group, SECRETARY)
            self.harness.api.chats[group] = {"id": group, "type": "supergroup",
                                             "title": f"支部{-group}"}
        self.commands = sorted(core_of(self.harness.app).commands)
        assert len(self.commands) > 25

    def process(self, payload: dict[str, Any]) -> list:
        """Handle one update; fails the test when it ended in an unexpected error."""
        errors = self.errors()
        calls = self.loop.run_until_complete(self.harness.process(payload))
        assert self.errors() == errors, "the update failed unexpectedly (see the log)"
        return calls

    def errors(self) -> float:
        registry = self.harness.app.metrics.registry
        return registry.get_sample_value("dangjian_errors_total") or 0.0

    def close(self) -> None:
        self.loop.run_until_complete(self.harness.__aexit__())
        self.loop.close()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    bench = Bench(tmp_path_factory.mktemp("fuzz"))
    yield bench
    bench.close()
    with sqlite3.connect(bench.db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []


def check_replies(bench: Bench, calls: list, *, must_answer: bool) -> None:
    """Every text the bot shows is Chinese, none is the generic failure or a trace; private
    input and button taps always get something back."""
    shown = [c for c in calls if c.method in REPLY_METHODS
             or (c.method == "answerCallbackQuery" and c.params.get("text"))]
    for call in shown:
        assert CJK.search(call.text), f"not Chinese: {call.text[:200]!r}"
        assert GENERIC_FAILURE not in call.text and "Traceback" not in call.text
    if must_answer:
        assert shown or any(c.method == "answerCallbackQuery" for c in calls), "silence"


users = st.sampled_from([ADMIN, SECRETARY, MEMBER, 503])
chats = st.sampled_from([None, *GROUPS])
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
words = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.integers().map(str),
    st.sampled_from([
        "明天", "本月", "本季度", "本年", "每周一 08:30", "每月最后一个周五 15:00",
        "2026-12-01 09:00", "2026-02-30 25:61", "1", "0", "-1", "99999999999999999999",
        "主题党日", "'; DROP TABLE member; --", "<b>粗体</b>", "&amp;", "\u202e", "🙂",
    ]),
)


@FUZZ
@given(data=st.data(), args=st.lists(words, max_size=5), user=users, chat=chats,
       mention=st.booleans())
def test_commands_with_random_arguments(bench: Bench, data: st.DataObject, args: list[str],
                                        user: int, chat: int | None, mention: bool) -> None:
    """Every command, with any arguments, from anyone, anywhere: a clear answer, never a crash;
    in private and when addressed by name in a group, never silence."""
    command = data.draw(st.sampled_from([*bench.commands, "nosuchcommand", "Start", "x_1"]))
    suffix = "@" + BOT_USER["username"] if mention else ""
    calls = bench.process(bench.harness.updates.message(
        f"/{command}{suffix} {' '.join(args)}".strip(), user_id=user, chat_id=chat))
    check_replies(bench, calls, must_answer=chat is None)


@FUZZ
@given(text=texts, user=users, chat=chats, mention=st.booleans())
def test_random_texts(bench: Bench, text: str, user: int, chat: int | None,
                      mention: bool) -> None:
    """Any text in private is answered (a passage, an abstention or a reason); in a group the
    bot answers when mentioned and otherwise keeps quiet, without failing."""
    if mention:
        text = f"@{BOT_USER['username']} {text}"
    calls = bench.process(bench.harness.updates.message(text, user_id=user, chat_id=chat))
    check_replies(bench, calls, must_answer=chat is None and bool(text.strip()))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(size=st.integers(4_097, 40_000), command=st.sampled_from(["", "/ask ", "/study ",
                                                                  "/task ", "/remind "]),
       chat=chats)
def test_oversize_messages(bench: Bench, size: int, command: str, chat: int | None) -> None:
    """Messages longer than Telegram allows (4096) get a reason, not a failure."""
    text = command + "党建" * (size // 2)
    if chat is not None and not command:
        text = f"@{BOT_USER['username']} " + text
    calls = bench.process(bench.harness.updates.message(text, user_id=SECRETARY, chat_id=chat))
    check_replies(bench, calls, must_answer=chat is None)


@FUZZ
@given(data=st.one_of(
    st.text(min_size=1, max_size=64),
    st.builds(lambda prefix, rest: prefix + rest,
              st.sampled_from(["qa:more:", "att:", "att:in:", "att:leave:", "study:",
                               "rem:", "duty:", "task:"]),
              st.text(max_size=30)),
).filter(lambda data: len(data.encode()) <= 64), user=users, chat=chats)  # Telegram: 1-64 bytes
def test_unknown_button_data(bench: Bench, data: str, user: int, chat: int | None) -> None:
    """A tap with forged or stale data is answered (the spinner stops), never a failure."""
    chat_id = user if chat is None else chat
    message = {"message_id": 7, "date": 1_700_000_000, "from": BOT_USER, "text": "通知",
               "chat": bench.harness.updates.chat(chat_id)}
    calls = bench.process(bench.harness.updates.callback(data, user_id=user, message=message))
    check_replies(bench, calls, must_answer=True)


def _unusual_updates(update_id: int) -> list[dict[str, Any]]:
    """Well-formed updates the handlers rarely see."""
    user = {"id": MEMBER, "is_bot": False, "first_name": "张三"}
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                 "username": "GroupAnonymousBot"}
    group = {"id": GROUPS[0], "type": "supergroup", "title": "支部"}
    private = {"id": MEMBER, "type": "private", "first_name": "张三"}
    base = {"message_id": 1, "date": 1_700_000_000}
    bot_message = {**base, "from": BOT_USER, "chat": group, "text": "通知"}
    return [{"update_id": update_id, **body} for body in [
        {"message": {**base, "from": user, "chat": private, "sticker": {
            "file_id": "s", "file_unique_id": "s", "width": 1, "height": 1, "is_animated": False,
            "is_video": False, "type": "regular"}}},
        {"message": {**base, "from": user, "chat": private,
                     "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]}},
        {"message": {**base, "from": user, "chat": private, "text": "",
                     "entities": [{"type": "bot_command", "offset": 0, "length": 9}]}},
        {"message": {**base, "from": anonymous, "sender_chat": group, "chat": group,
                     "text": "/stats", "entities": [
                         {"type": "bot_command", "offset": 0, "length": 6}]}},
        {"message": {**base, "from": user, "chat": group,
                     "new_chat_members": [user]}},
        {"message": {**base, "from": user, "chat": group, "left_chat_member": user}},
        {"message": {**base, "from": user, "chat": group, "text": "宣传主题？",
                     "reply_to_message": {**bot_message, "text": None}}},
        {"edited_message": {**base, "from": user, "chat": private, "edit_date": 1_700_000_100,
                            "text": "/checkin", "entities": [
                                {"type": "bot_command", "offset": 0, "length": 8}]}},
        {"callback_query": {"id": "1", "from": user, "chat_instance": "1", "data": "att:in:1",
                            "message": {"chat": group, "message_id": 5, "date": 0}}},
        {"callback_query": {"id": "2", "from": user, "chat_instance": "1",
                            "message": bot_message, "game_short_name": "x"}},
        {"my_chat_member": {"chat": group, "from": user, "date": 1_700_000_000,
                            "old_chat_member": {"status": "member", "user": BOT_USER},
                            "new_chat_member": {"status": "left", "user": BOT_USER}}},
        {"my_chat_member": {"chat": group, "from": user, "date": 1_700_000_000,
                            "old_chat_member": {"status": "left", "user": BOT_USER},
                            "new_chat_member": {"status": "member", "user": BOT_USER}}},
    ]]


def test_unusual_updates(bench: Bench) -> None:
    """Stickers, photos, service messages, anonymous admins, edits, taps on messages too old
    to see, game taps,
    membership changes: handled quietly or with a Chinese reply, never a failure."""
    for update in _unusual_updates(900_000):
        check_replies(bench, bench.process(update), must_answer=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["update_id", "message", "chat", "from", "text", "id",
                                       "date", "callback_query", "data", "type", "message_id"])
                      | st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(body=st.one_of(st.binary(max_size=200), json_values.map(
    lambda v: json.dumps(v).encode()), json_values.map(
    lambda v: json.dumps({"update_id": 1, "message": v}).encode())))
def test_webhook_decoder_never_raises_anything_else(body: bytes) -> None:
    """Arbitrary bodies decode to an Update or raise MalformedUpdate (answered 400)."""
    with contextlib.suppress(MalformedUpdate):
        decode_update(body, DECODING_BOT)
