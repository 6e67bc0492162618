"""The tap storm on WeCom and DingTalk beside Telegram, in the same run: the real `dangjian run`
against each fake (Telegram's Bot API by long polling; WeCom's AI bot long connection;
DingTalk's Stream gateway), one notice in one branch, N members tapping 签到 on it as fast as
the fake takes them (with --repeat, each tap delivered twice, as either platform may repeat a
callback). Measured: from the first tap until every tap is recorded (attendance rows in the
bot's database), and that each is recorded once. (Feishu's storm, 5,000 taps through its
callback: `bench/load.py --part feishu`.)

    python bench/storm.py [--platforms wecom,dingtalk] [--taps 300] [--rounds 3] [--webhook]
                          [--repeat]

Issue 15's target: each platform's time ≤ 1.2 × Telegram's, every tap recorded once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from botproc import BotProcess, PlatformBot, wait_for  # noqa: E402
from fake_bot_api import FakeBotApi  # noqa: E402
from fakes.dingtalk import CARD_TOPIC, FakeDingTalk, card_buttons, card_text  # noqa: E402
from fakes.wecom import Card, FakeWeCom  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

GROUP, SECRETARY = -1001, 501
ADMIN, BRANCH = "admin01", "wrbranch01"


def recorded(database_url: str) -> tuple[int, int]:
    """(attendance rows, distinct activity-member pairs)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows, pairs = connection.execute(text(
                "SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT DISTINCT activity_id, user_id "
                "FROM attendance) p) FROM attendance")).one()
            return int(rows), int(pairs)
    finally:
        engine.dispose()


def until_recorded(database_url: str, expected: int, timeout: float = 300) -> None:
    wait_for(lambda: recorded(database_url)[0] >= expected, timeout)


def telegram(folder: Path, taps: int, webhook: bool) -> float:
    with FakeBotApi() as api:
        api.set_admin(GROUP, SECRETARY)
        url = f"sqlite:///{folder / 'telegram.db'}"
        bot = BotProcess(api, folder, database_url=url, branches=[GROUP],
                         webhook_secret="storm-secret" if webhook else None).start()
        try:
            mark = api.mark()
            api.send("/remind 现在 主题党日", user_id=SECRETARY, chat_id=GROUP)
            post = api.wait_for(lambda c: c.method == "sendMessage" and bool(c.buttons),
                                since=mark, timeout=30)
            base = recorded(url)[0]
            started = time.monotonic()
            for member in range(taps):
                api.tap(post, "签到", user_id=20_000 + member)
            until_recorded(url, base + taps)
            took = time.monotonic() - started
            rows, pairs = recorded(url)
            mode = "webhook" if webhook else "long polling"
            print(f"  telegram ({mode}): {taps} taps recorded in {took:.2f} s "
                  f"({taps / took:.0f} taps/s); rows {rows}, distinct {pairs}")
            return took
        finally:
            bot.stop()


def measured(name: str, url: str, base: int, taps: int, repeat: bool,
             push: Callable[[], object], card: Callable[[], str]) -> float:
    """Push a platform's storm and time it until every tap is recorded; then wait for its
    card to show them all and print one line. Returns the seconds."""
    started = time.monotonic()
    push()
    pushed = time.monotonic() - started
    until_recorded(url, base + taps)
    took = time.monotonic() - started
    rows, pairs = recorded(url)
    wait_for(lambda: re.search(rf"已签到 {base + taps}\b", card()), 30)
    twice = " (each delivered twice)" if repeat else ""
    print(f"  {name + ':':9} {taps} taps{twice} recorded in {took:.2f} s "
          f"({taps / took:.0f} taps/s); rows {rows}, distinct {pairs}; "
          f"card shows them all; the fake pushed them in {pushed:.2f} s")
    return took


def wecom(folder: Path, taps: int, repeat: bool) -> float:
    fake = FakeWeCom()
    with fake.in_thread():
        bot = PlatformBot({**fake.env(), "DANGJIAN_ADMINS": f"wecom:{ADMIN}"}, folder,
                          "wecom").start()
        url = bot.env["DATABASE_URL"]
        try:
            fake.run(fake.push(fake.text_message(BRANCH, ADMIN, "/bind 第一党支部")))
            wait_for(lambda: any("已登记" in t for t in fake.texts(BRANCH)))
            fake.run(fake.push(fake.text_message(BRANCH, ADMIN, "/remind 现在 主题党日")))
            card: Card = wait_for(lambda: next((m for m in fake.sent.get(BRANCH, [])
                                                if isinstance(m, Card)), None))
            base = recorded(url)[0]
            bodies = [fake.tap(card, f"m{member:04d}", "签到") for member in range(taps)]

            async def storm() -> None:
                for body in bodies:
                    rid = await fake.push(body)
                    if repeat:
                        await fake.push(body, req_id=rid)  # WeCom delivering it again

            return measured("wecom", url, base, taps, repeat, lambda: fake.run(storm()),
                            lambda: fake.cards[card.task_id].text)
        finally:
            bot.end()


def dingtalk(folder: Path, taps: int, repeat: bool) -> float:
    fake = FakeDingTalk()
    chat = "cidStorm01"
    with fake.in_thread():
        bot = PlatformBot({**fake.env(), "DANGJIAN_ADMINS": f"dingtalk:{ADMIN}"}, folder,
                          "dingtalk").start()
        url = bot.env["DATABASE_URL"]
        try:
            fake.run(fake.push("/v1.0/im/bot/messages/get",
                               fake.robot_message(chat, ADMIN, "/bind 第一党支部")))
            wait_for(lambda: any("已登记" in card_text(m) for m in fake.sent(chat)))
            fake.run(fake.push("/v1.0/im/bot/messages/get", fake.robot_message(
                chat, "sec01", "/remind 现在 主题党日", is_admin=True)))
            card = wait_for(lambda: next((m for m in fake.sent(chat) if m.kind == "card"
                                          and "主题党日" in card_text(m)), None))
            button = card_buttons(card)["签到"]
            base = recorded(url)[0]
            frames = [(fake.tap(card.message_id, f"m{member:04d}", button), f"tap-{member}")
                      for member in range(taps)]

            async def storm() -> None:  # frames go out at once; each awaits its acknowledgement
                await asyncio.gather(*(fake.push(CARD_TOPIC, body, frame)
                                       for body, frame in frames * (2 if repeat else 1)))

            return measured("dingtalk", url, base, taps, repeat,
                            lambda: fake.run(storm(), timeout=300), lambda: card_text(card))
        finally:
            bot.end()


PLATFORMS = {"wecom": wecom, "dingtalk": dingtalk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--platforms", default="wecom,dingtalk",
                        help="which platforms, each beside Telegram: wecom,dingtalk")
    parser.add_argument("--taps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3,
                        help="Telegram then each platform, this many times: medians compared")
    parser.add_argument("--webhook", action="store_true",
                        help="Telegram in webhook mode (its updates stored first, as the others')")
    parser.add_argument("--repeat", action="store_true",
                        help="every tap delivered twice on the platform (each must count once)")
    args = parser.parse_args()
    print(f"== tap storm: {args.taps} members tap 签到 on one notice, {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.1f} ==", flush=True)
    platforms = args.platforms.split(",")
    times: dict[str, list[float]] = {name: [] for name in ["telegram", *platforms]}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "telegram").mkdir()
            times["telegram"].append(telegram(folder / "telegram", args.taps, args.webhook))
            for name in platforms:
                (folder / name).mkdir()
                times[name].append(PLATFORMS[name](folder / name, args.taps, args.repeat))
    base = statistics.median(times["telegram"])
    for name in platforms:
        took = statistics.median(times[name])
        print(f"  medians: telegram {base:.2f} s, {name} {took:.2f} s; "
              f"{name} / telegram {took / base:.2f} (target ≤ 1.2)")


if __name__ == "__main__":
    main()
