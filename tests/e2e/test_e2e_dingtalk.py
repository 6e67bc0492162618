"""The real `dangjian run` on DingTalk only, against a fake DingTalk over HTTP and its Stream
gateway: robot messages and card taps pushed as Stream CALLBACK frames, the flows the same ones
Telegram's and Feishu's tests drive."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botproc import PlatformBot, refused_start, said, wait_for
from fakes.dingtalk import (
    CARD_TOPIC,
    MESSAGE_TOPIC,
    SEND_TO_PEOPLE,
    FakeDingTalk,
    card_buttons,
    card_text,
)

ROOT = Path(__file__).resolve().parents[2]
ADMIN, SECRETARY, MEMBER, MEMBER2 = "admin01", "sec01", "member01", "member02"
BRANCH = "cidBranch01+abc=="


class DingTalkBot(PlatformBot):
    """`python -m bot.cli run` with only DingTalk configured."""

    def __init__(self, fake: FakeDingTalk, workdir: Path) -> None:
        super().__init__({**fake.env(), "DANGJIAN_ADMINS": f"dingtalk:{ADMIN}"}, workdir,
                         "dingtalk")

    def readyz(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())
        except OSError:
            return None

    def ready(self) -> bool:
        answer = self.readyz()
        return answer is not None and answer["status"] == "ready"


class Platform:
    """The fake on a thread of its own, driven from the (synchronous) tests."""

    def __init__(self, fake: FakeDingTalk) -> None:
        self.fake = fake
        self.run = fake.run

    def texts(self, to: str) -> list[str]:
        return [card_text(m) for m in self.fake.sent(to)]

    def said(self, to: str, words: str, since: int = 0) -> str:
        return said(self.texts, to, words, since)

    def push(self, data: dict[str, Any], topic: str = MESSAGE_TOPIC,
             frame_id: str = "") -> dict[str, Any]:
        ack = self.run(self.fake.push(topic, data, frame_id))
        assert ack["code"] == 200, ack
        return ack

    def say(self, sender: str, text: str, *, chat: str | None = BRANCH,
            is_admin: bool = False) -> dict[str, Any]:
        data = self.fake.robot_message(chat, sender, text, is_admin=is_admin,
                                       nick={SECRETARY: "王书记", MEMBER: "李党员"}.get(sender, ""))
        self.push(data)
        return data

    def notice(self) -> Any:
        return next(m for m in self.fake.sent(BRANCH)
                    if m.kind == "card" and "主题党日" in card_text(m))


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    fake = FakeDingTalk()
    with fake.in_thread():
        yield Platform(fake)


@pytest.fixture(scope="module")
def bot(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DingTalkBot]:
    process = DingTalkBot(platform.fake, tmp_path_factory.mktemp("dingtalk")).start()
    yield process
    if process.process is not None:
        assert process.end() == 0


def test_private_help_before_any_branch_and_readyz_names_dingtalk(
        platform: Platform, bot: DingTalkBot) -> None:
    platform.say(MEMBER, "/help", chat=None)
    assert "只为已登记党支部的成员服务" in platform.said(MEMBER, "党建助手")
    assert bot.readyz()["platforms"] == {"dingtalk": "running"}  # type: ignore[index]


def test_a_global_admin_binds_the_group(platform: Platform, bot: DingTalkBot) -> None:
    platform.say(ADMIN, "/bind 第一党支部")
    platform.said(BRANCH, "已登记为党支部：第一党支部")


def test_a_notice_is_a_card_whose_taps_count_once_and_update_it(
        platform: Platform, bot: DingTalkBot) -> None:
    fake = platform.fake
    platform.say(SECRETARY, "/remind 现在 主题党日 地点：三楼会议室", is_admin=True)
    wait_for(lambda: any(m.kind == "card" and "主题党日" in card_text(m)
                         for m in fake.sent(BRANCH)))
    card = platform.notice()
    values = card_buttons(card)
    assert list(values) == ["签到", "请假"]
    tap = fake.tap(card.message_id, MEMBER, values["签到"])
    platform.push(tap, CARD_TOPIC, frame_id="frame-tap-1")
    platform.said(MEMBER, "签到成功")
    platform.push(tap, CARD_TOPIC, frame_id="frame-tap-1")  # the same frame delivered again
    platform.push(fake.tap(card.message_id, MEMBER, values["签到"]), CARD_TOPIC)
    platform.said(MEMBER, "无需重复签到")
    platform.push(fake.tap(card.message_id, SECRETARY, values["签到"]), CARD_TOPIC)
    wait_for(lambda: "已签到 2" in card_text(card), why=lambda: card_text(card))
    assert fake.calls_to("PUT", "/v1.0/im/robots/interactiveCards")
    assert sum("签到成功" in t for t in platform.texts(MEMBER)) == 1


def test_a_repeated_message_is_handled_once(platform: Platform, bot: DingTalkBot) -> None:
    before = len(platform.texts(MEMBER))
    data = platform.fake.robot_message(None, MEMBER, "/me")
    platform.push(data)
    platform.push(data)  # DingTalk delivers the same msgId again
    platform.said(MEMBER, "", since=before)
    platform.say(MEMBER, "/help", chat=None)
    platform.said(MEMBER, "党建助手", since=before + 1)
    assert len(platform.texts(MEMBER)) == before + 2


def test_a_member_is_refused_politely(platform: Platform, bot: DingTalkBot) -> None:
    before = len(platform.texts(BRANCH))
    platform.say(MEMBER, "/task 学习党章")
    assert "仅限本支部书记" in platform.said(BRANCH, "仅限", since=before)


def test_a_member_made_group_admin_is_a_secretary_from_their_next_message(
        platform: Platform, bot: DingTalkBot) -> None:
    """The isAdmin flag of each message decides, not an answer cached from before."""
    before = len(platform.texts(BRANCH))
    platform.say("sec02", "/remind 现在 廉政党课")
    assert "仅限本支部书记" in platform.said(BRANCH, "仅限", since=before)
    platform.say("sec02", "/remind 现在 廉政党课", is_admin=True)
    wait_for(lambda: any(m.kind == "card" and "廉政党课" in card_text(m)
                         for m in platform.fake.sent(BRANCH)))


def test_members_ask_by_mentioning_the_bot(platform: Platform, bot: DingTalkBot) -> None:
    before = len(platform.texts(BRANCH))
    platform.say(MEMBER, "廉政党课怎么安排")
    assert "出处" in platform.said(BRANCH, "出处", since=before)


def test_stats_draw_a_chart_and_the_list_goes_privately(platform: Platform,
                                                        bot: DingTalkBot) -> None:
    fake = platform.fake
    platform.say(SECRETARY, "/stats", is_admin=True)
    platform.said(SECRETARY, "未响应")
    wait_for(lambda: any(m.kind == "sampleImageMsg" for m in fake.sent(BRANCH)))
    image = next(m for m in fake.sent(BRANCH) if m.kind == "sampleImageMsg")
    kind, _, data = fake.media[image.content["photoURL"]]
    assert kind == "image" and data.startswith(b"\x89PNG")


def test_nothing_acknowledged_is_lost_across_a_kill(platform: Platform,
                                                    bot: DingTalkBot) -> None:
    """Messages acknowledged just before a SIGKILL are answered after the restart (stored
    first, taken up again), and a card posted before it still takes taps."""
    fake = platform.fake
    card = platform.notice()
    people = [f"burst{n:02d}" for n in range(12)]
    for person in people:
        platform.push(fake.robot_message(None, person, "/help"))
    bot.end(signal.SIGKILL)
    bot.start()
    for person in people:
        platform.said(person, "党建助手")
    platform.push(fake.tap(card.message_id, MEMBER2, card_buttons(card)["签到"]), CARD_TOPIC)
    platform.said(MEMBER2, "签到成功")
    wait_for(lambda: "已签到 3" in card_text(card), why=lambda: card_text(card))


def test_a_rate_limit_is_waited_out_and_the_reply_sent_once(platform: Platform,
                                                            bot: DingTalkBot) -> None:
    fake = platform.fake
    before = len(platform.texts(SECRETARY))
    fake.rate_limit(1, path=SEND_TO_PEOPLE)  # a background call may come first: not that one
    platform.say(SECRETARY, "/help", chat=None)
    assert "/checkin" in platform.said(SECRETARY, "党建助手", since=before)
    assert sum("党建助手" in t for t in platform.texts(SECRETARY)[before:]) == 1
    assert any(c.status == 403 for c in fake.calls_to("POST", SEND_TO_PEOPLE))


def test_a_dropped_connection_is_reconnected_and_shown(platform: Platform,
                                                       bot: DingTalkBot) -> None:
    fake = platform.fake
    connections = fake.connections
    platform.run(fake.drop_connection())
    platform.run(asyncio.wait_for(fake.opened(connections + 1), 20))
    wait_for(bot.ready, 20)
    assert "DingTalk Stream: reconnecting (attempt 1)" in bot.log()
    before = len(platform.texts(MEMBER))
    platform.say(MEMBER, "/help", chat=None)
    platform.said(MEMBER, "党建助手", since=before)


def test_a_global_admins_file_joins_the_knowledge_base(platform: Platform,
                                                       bot: DingTalkBot) -> None:
    """A robot file message is fetched by its downloadCode and ingested."""
    fake = platform.fake
    text = "第一条 支部每季度至少召开一次组织生活会，开展批评和自我批评。\n".encode()
    platform.push(fake.file_message(ADMIN, "组织生活会制度.txt", text))
    assert "组织文件" in platform.said(ADMIN, "已加入知识库")
    assert fake.calls_to("POST", "/v1.0/robot/messageFiles/download")


def test_wrong_credentials_stop_the_start_with_one_line(platform: Platform,
                                                        tmp_path: Path) -> None:
    env = {**DingTalkBot(platform.fake, tmp_path).env, "DINGTALK_CLIENT_SECRET": "wrong"}
    assert "钉钉拒绝了应用凭证" in refused_start(env)


def test_a_tap_storm_is_recorded_once_per_member(platform: Platform, bot: DingTalkBot) -> None:
    """200 members tap 签到 at once, every frame delivered twice: 200 check-ins, one answer
    each, and the card ends showing them all (and the secretary, who hosts it)."""
    fake = platform.fake
    platform.say(SECRETARY, "/remind 现在 支部大会", is_admin=True)
    card = wait_for(lambda: next((m for m in fake.sent(BRANCH)
                                  if m.kind == "card" and "支部大会" in card_text(m)), None))
    button = card_buttons(card)["签到"]
    people = [f"storm{n:03d}" for n in range(200)]

    async def storm() -> list[dict[str, Any]]:
        taps = [(fake.tap(card.message_id, person, button), f"storm-frame-{person}")
                for person in people]
        return await asyncio.gather(*(fake.push(CARD_TOPIC, tap, frame)
                                      for tap, frame in taps + taps))

    started = time.monotonic()
    acks = platform.run(storm())
    assert all(ack["code"] == 200 for ack in acks)
    wait_for(lambda: "已签到 201" in card_text(card), 60, lambda: card_text(card)[-80:])
    for person in people:
        wait_for(lambda person=person: platform.texts(person))
    print(f"\n200 taps (400 frames) over Stream: all counted on the card in "
          f"{time.monotonic() - started:.2f} s")
    assert all(platform.texts(person) == ["签到成功！"] for person in people)
