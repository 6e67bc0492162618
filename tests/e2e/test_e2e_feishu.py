"""The real `dangjian run` on Feishu only, against a fake Feishu Open Platform over HTTP: events
POSTed to its callback as Feishu signs and encrypts them, and over the long connection; the
flows are the same ones Telegram's tests drive."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from botproc import free_port, wait_for
from fakes.feishu import FakeFeishu

ROOT = Path(__file__).resolve().parents[2]
ADMIN, SECRETARY, MEMBER, STRANGER = "ou_admin01", "ou_sec01", "ou_member01", "ou_stranger01"
BRANCH, OTHER = "oc_branch01", "oc_other01"


class FeishuBot:
    """`python -m bot.cli run` with only Feishu configured."""

    def __init__(self, fake: FakeFeishu, workdir: Path, *, mode: str) -> None:
        self.fake, self.workdir, self.port = fake, workdir, free_port()
        self.log_path = workdir / f"bot-{mode}.log"
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "WEBHOOK_", "FEISHU_"))},
            **fake.env(), "FEISHU_MODE": mode, "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{workdir / 'feishu.db'}",
            "DANGJIAN_ADMINS": f"feishu:{ADMIN}", "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:{self.port}/feishu/events"

    def start(self) -> FeishuBot:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"],
                                            env=self.env, cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT)
        wait_for(self.ready, 40, lambda: self.log()[-3000:])
        return self

    def ready(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def end(self, signum: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        code = self.process.wait(20)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")


class Platform:
    """The fake on a thread of its own, driven from the (synchronous) tests."""

    def __init__(self, fake: FakeFeishu, loop: asyncio.AbstractEventLoop) -> None:
        self.fake, self.loop = fake, loop

    def run(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(30)

    def texts(self, to: str) -> list[str]:
        return [message_text(m) for m in self.fake.sent(to)]

    def said(self, to: str, words: str, since: int = 0) -> str:
        return wait_for(lambda: next((t for t in self.texts(to)[since:] if words in t), None),
                        why=lambda: f"{words!r} to {to}; sent: {self.texts(to)[-5:]}")


def message_text(message: Any) -> str:
    content = message.content
    if isinstance(content, dict) and "elements" in content:
        return "\n".join(e.get("text", {}).get("content", "") for e in content["elements"]
                         if e.get("tag") == "div")
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content)


def buttons(message: Any) -> dict[str, str]:
    return {b["text"]["content"]: b["value"]["v"] for e in message.content.get("elements", [])
            if e.get("tag") == "action" for b in e["actions"]}


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    fake = FakeFeishu()
    with fake.in_thread():
        fake.add_chat(BRANCH, SECRETARY, members=[(SECRETARY, "王书记"), (MEMBER, "李党员"),
                                                  ("ou_member02", "张党员")], name="第一党支部群")
        fake.add_chat(OTHER, STRANGER, name="别的群")
        yield Platform(fake, fake._loop)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def bot(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeishuBot]:
    process = FeishuBot(platform.fake, tmp_path_factory.mktemp("feishu"), mode="webhook").start()
    yield process
    if process.process is not None:
        assert process.end() == 0


def deliver(platform: Platform, bot: FeishuBot, event: dict[str, Any]) -> tuple[int, Any]:
    return platform.run(platform.fake.deliver(bot.callback, event))


def say(platform: Platform, bot: FeishuBot, chat: str, sender: str, text: str, *,
        group: bool = True) -> None:
    status, _ = deliver(platform, bot, platform.fake.message_event(
        chat, sender, text, group=group, mention_bot=group))
    assert status == 200


def test_the_callback_answers_feishus_challenge_and_refuses_a_forged_body(
        platform: Platform, bot: FeishuBot) -> None:
    status, answer = deliver(platform, bot, platform.fake.url_verification())
    assert status == 200 and "challenge" in answer
    import urllib.request

    forged = urllib.request.Request(bot.callback, data=b'{"encrypt": "AAAA"}', method="POST",
                                    headers={"X-Lark-Request-Timestamp": "1",
                                             "X-Lark-Request-Nonce": "n",
                                             "X-Lark-Signature": "0" * 64})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=5)
    assert refused.value.code == 400
    assert "Traceback" not in bot.log()


def test_an_admin_adding_the_bot_registers_the_branch(platform: Platform, bot: FeishuBot) -> None:
    status, _ = deliver(platform, bot, platform.fake.bot_added(BRANCH, ADMIN, "第一党支部群"))
    assert status == 200
    platform.said(BRANCH, "已登记为党支部：第一党支部群")


def test_an_unregistered_group_gets_the_one_line(platform: Platform, bot: FeishuBot) -> None:
    say(platform, bot, OTHER, STRANGER, "/checkin")
    assert platform.said(OTHER, "本群尚未登记为党支部") == \
        "本群尚未登记为党支部，请组织管理员在群内发送 /bind 支部名称。"


def test_a_notice_is_a_card_its_taps_count_once_and_update_it(
        platform: Platform, bot: FeishuBot) -> None:
    fake = platform.fake
    say(platform, bot, BRANCH, SECRETARY, "/remind 现在 主题党日 地点：三楼会议室")
    platform.said(BRANCH, "📢 主题党日")
    card = next(m for m in fake.sent(BRANCH) if "主题党日" in message_text(m))
    values = buttons(card)
    assert list(values) == ["签到", "请假"]
    tap = fake.card_action(card.message_id, BRANCH, MEMBER, {"v": values["签到"]})
    status, answer = deliver(platform, bot, tap)
    assert status == 200 and answer["toast"]["content"] == "签到成功！"
    status, again = deliver(platform, bot, tap)  # Feishu delivers the same event again
    assert status == 200 and again == {}
    second = fake.card_action(card.message_id, BRANCH, MEMBER, {"v": values["签到"]})
    assert deliver(platform, bot, second)[1]["toast"]["content"] == "您已签到，无需重复签到。"
    wait_for(lambda: "已签到 2" in message_text(fake.messages[card.message_id]),
             why=lambda: message_text(fake.messages[card.message_id]))
    assert fake.calls_to("PATCH", f"/open-apis/im/v1/messages/{card.message_id}")


def test_members_ask_by_mentioning_the_bot(platform: Platform, bot: FeishuBot) -> None:
    before = len(platform.texts(BRANCH))
    say(platform, bot, BRANCH, MEMBER, "廉政党课怎么安排")
    assert "出处" in platform.said(BRANCH, "出处", since=before)


def test_stats_draw_a_chart_and_the_list_goes_privately(platform: Platform,
                                                        bot: FeishuBot) -> None:
    fake = platform.fake
    say(platform, bot, BRANCH, SECRETARY, "/stats")
    platform.said(SECRETARY, "未响应")
    wait_for(lambda: any(m.msg_type == "image" for m in fake.sent(BRANCH)))
    assert fake.images


def test_a_member_is_refused_politely(platform: Platform, bot: FeishuBot) -> None:
    before = len(platform.texts(BRANCH))
    say(platform, bot, BRANCH, MEMBER, "/task 学习党章")
    assert "仅限本支部书记" in platform.said(BRANCH, "仅限", since=before)


def test_nothing_is_lost_or_doubled_across_a_kill(platform: Platform, bot: FeishuBot) -> None:
    fake = platform.fake
    card = next(m for m in fake.sent(BRANCH) if "主题党日" in message_text(m))
    bot.end(signal.SIGKILL)
    bot.start()
    tap = fake.card_action(card.message_id, BRANCH, "ou_member02", {"v": buttons(card)["签到"]})
    assert deliver(platform, bot, tap)[1]["toast"]["content"] == "签到成功！"
    wait_for(lambda: "已签到 3" in message_text(fake.messages[card.message_id]))


def test_a_429_is_waited_out_and_the_reply_sent_once(platform: Platform, bot: FeishuBot) -> None:
    fake = platform.fake
    before = len(platform.texts(SECRETARY))
    fake.rate_limit(1, reset=0.5)
    say(platform, bot, SECRETARY, SECRETARY, "/help", group=False)
    platform.said(SECRETARY, "党建助手", since=before)
    assert sum("党建助手" in t for t in platform.texts(SECRETARY)[before:]) == 1


def test_the_long_connection_serves_the_same_flows(platform: Platform,
                                                   tmp_path: Path) -> None:
    fake = platform.fake
    process = FeishuBot(fake, tmp_path, mode="ws").start()
    try:
        platform.run(asyncio.wait_for(fake.connected(), 20))
        before = len(platform.texts(ADMIN))
        ack = platform.run(fake.push(fake.message_event(ADMIN, ADMIN, "/help", group=False)))
        assert ack["code"] == 200
        platform.said(ADMIN, "/checkin", since=before)
    finally:
        assert process.end() == 0
