"""Load and fault figures for the real `dangjian run` process against the fake Bot API over HTTP.

    python bench/load.py [--part load|faults|outage|broadcast|all] [--postgres URL]
                         [--activities 1,10] [--rtt MS] [--seconds S] [--webhook]
                         [--replicas N] [--baseline DIR]

  load       500 users in 50 groups tap 签到 5,000 times in about 10 s (ten activities a group,
             each member taps each once): taps recorded exactly once, callbacks answered, the
             handler latency from the bot's own log lines (target p99 <= 50 ms), tap-to-answer
             latency, flood-limit violations. On SQLite (a WAL file), then on PostgreSQL;
             with --replicas N, N webhook processes on PostgreSQL behind a round robin. With
             --baseline DIR (a checkout of other code, e.g. `git worktree add ../base main`),
             each run is preceded by the same run of that code's bot, for a before/after in
             the same conditions.
  faults     1,000 taps while the Bot API answers bursts of 429 and 502, some calls are slower
             than the client's timeout, connections are refused for a second and some are cut
             after the request was read: every tap recorded once and answered, no message sent
             twice, the sends left in doubt counted.
  outage     PostgreSQL cut off for 20 s through a TCP proxy this script controls: questions
             answered meanwhile, writes answered with 稍后重试, accepted again after recovery.
  broadcast  a reminder to 300 groups, SIGKILL in the middle, restart: nobody gets it twice.
  feishu     the load part's storm (webhook mode, one activity a group) on Telegram, then the
             same 5,000 taps as Feishu card actions POSTed to the bot's callback, then again
             with a SIGKILL halfway: time against Telegram's (target <= 1.2 x), taps recorded
             once, card patches within Feishu's limit.

PostgreSQL parts use a fresh database (created and dropped) on --postgres or TEST_DATABASE_URL,
default postgresql+psycopg://postgres@127.0.0.1:5432/test; they are skipped when unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from botproc import BotProcess  # noqa: E402
from conftest import _fresh_postgres_database  # noqa: E402
from fake_bot_api import FakeBotApi, HttpCall, exchange  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.services.people import Actor, remember  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ADMIN = 900
TZ = ZoneInfo("Asia/Shanghai")
RETRY_LATER = "稍后重试"


# --- a branch world in the fake ------------------------------------------------------------

@dataclass
class World:
    """Groups, each with a secretary (a group admin in the fake) and members."""

    groups: int
    members: int
    ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ids = [-1_000_000 - g for g in range(self.groups)]

    def secretary(self, group: int) -> int:
        return 10_000 - group  # group ids are negative: distinct positive ids

    def members_of(self, group: int) -> list[int]:
        base = 100_000 + (-group - 1_000_000) * 100
        return [base + i for i in range(self.members)]

    def enrol(self, api: FakeBotApi) -> None:
        for group in self.ids:
            api.set_admin(group, self.secretary(group))


def open_activities(api: FakeBotApi, world: World, per_group: int) -> list[HttpCall]:
    """Each secretary posts `per_group` activities with /remind; returns the posts."""
    mark = api.mark()
    for k in range(per_group):
        for group in world.ids:
            api.send(f"/remind 现在 主题党日 第{k + 1}次学习", user_id=world.secretary(group),
                     chat_id=group)
    return api.wait_for_all(lambda c: c.method == "sendMessage" and bool(c.buttons),
                            per_group * world.groups, since=mark, timeout=300)


@dataclass
class Storm:
    """Taps sent, when each was enqueued, and their callback ids."""

    taps: list[dict[str, Any]]
    enqueued: dict[str, float]

    @property
    def ids(self) -> set[str]:
        return {t["callback_query"]["id"] for t in self.taps}


def tap_storm(api: FakeBotApi, world: World, posts: list[HttpCall], seconds: float,
              on_progress: Any = None) -> Storm:
    """Every member taps 签到 on every post of their group (a post listed twice: twice),
    shuffled, evenly over `seconds`."""
    plan = [(post, user) for post in posts for user in world.members_of(post.chat_id or 0)]
    random.Random(7).shuffle(plan)
    taps, enqueued = [], {}
    started = time.monotonic()
    for index, (post, user) in enumerate(plan):
        due = started + seconds * index / len(plan)
        if (pause := due - time.monotonic()) > 0:
            time.sleep(pause)
        if on_progress is not None:
            on_progress(index / len(plan))
        tap = api.tap(post, "签到", user_id=user)
        taps.append(tap)
        enqueued[tap["callback_query"]["id"]] = time.monotonic()
    return Storm(taps, enqueued)


def first_answers(api: FakeBotApi) -> dict[str, HttpCall]:
    answers: dict[str, HttpCall] = {}
    for call in api.calls_of("answerCallbackQuery"):
        answers.setdefault(str(call.params["callback_query_id"]), call)
    return answers


def wait_answered(api: FakeBotApi, ids: set[str], timeout: float) -> dict[str, HttpCall]:
    deadline = time.monotonic() + timeout
    while not ids <= (answers := first_answers(api)).keys() and time.monotonic() < deadline:
        time.sleep(0.2)
    return answers


def attendance_count(bot: BotProcess) -> tuple[int, int]:
    """(rows, distinct activity-member pairs) of attendance."""
    ((rows, pairs),) = bot.query(
        "SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT DISTINCT activity_id, user_id "
        "FROM attendance) p) FROM attendance")
    return rows, pairs


def handler_ms(log: str, command: str) -> list[float]:
    return [float(m) for m in re.findall(rf"command={re.escape(command)} \S+ ms=([\d.]+)", log)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def show(label: str, value: object) -> None:
    print(f"  {label:<46} {value}", flush=True)


# --- parts ---------------------------------------------------------------------------------

def part_load(database_url: str, backend: str, folder: Path, activities: int,
              rtt: float, seconds: float, webhook: bool, replicas: int = 1,
              code: Path | None = None) -> float:
    """5,000 taps by 500 members of 50 groups over `seconds`: with one activity per group each
    member taps it ten times (recorded once); with ten, each member taps each once. `rtt`:
    seconds each Bot API call takes, as the way to Telegram's servers would. `webhook`: the
    fake delivers the taps to the bot's webhook instead of the bot polling for them; with
    several `replicas` it delivers to each in turn, as the load balancer in front would.
    `code`: run the bot from this checkout instead of this one. Returns the seconds from the
    first tap until every tap was answered."""
    mode = "webhook" if webhook or replicas > 1 else "long polling"
    if replicas > 1:
        mode += f" to {replicas} replicas"
    print(f"\n== load on {backend}, {mode}: 500 users in "
          f"50 groups, 5,000 taps in ~{seconds:.0f} s, "
          f"{activities} activit{'y' if activities == 1 else 'ies'} per group, "
          f"Bot API round trip {rtt * 1000:.0f} ms, bot code {code or 'this checkout'}, "
          f"load average {os.getloadavg()[0]:.1f} ==", flush=True)
    world = World(groups=50, members=10)
    with FakeBotApi(latency=rtt) as api:
        world.enrol(api)
        bots = []
        for n in range(replicas):
            (folder / f"replica{n}").mkdir()
            bots.append(BotProcess(api, folder / f"replica{n}", database_url=database_url,
                                   branches=world.ids if n == 0 else (),
                                   webhook_secret="load-webhook-secret" if mode != "long polling"
                                   else None, **({"PYTHONPATH": str(code)} if code else {})
                                   ).start())
        if replicas > 1:
            api.webhook_targets = [f"http://127.0.0.1:{bot.port}/telegram" for bot in bots]
        try:
            started = time.monotonic()
            posts = open_activities(api, world, per_group=activities)
            show(f"{len(posts)} activities posted in", f"{time.monotonic() - started:.1f} s")
            mark = api.mark()
            cpu_before = sum(bot.cpu_seconds() for bot in bots)
            storm = tap_storm(api, world, posts * (10 // activities), seconds=seconds)
            sent_for = time.monotonic() - storm.enqueued[storm.taps[0]["callback_query"]["id"]]
            answers = wait_answered(api, storm.ids, timeout=300)
            last = max((answers[i].at for i in storm.ids if i in answers), default=float("nan"))
            cpu = sum(bot.cpu_seconds() for bot in bots) - cpu_before
            rows, distinct = attendance_count(bots[0])
            texts = Counter(answers[i].params.get("text") for i in storm.ids if i in answers)
            ms = [m for bot in bots for m in handler_ms(bot.log(), "cb:att:in")]
            to_answer = [answers[i].at - api.delivered_at[int(t["update_id"])]
                         for t in storm.taps if (i := t["callback_query"]["id"]) in answers]
            backlog = [answers[i].at - storm.enqueued[i] for i in storm.ids if i in answers]
            edits = len([c for c in api.calls[mark:] if c.method == "editMessageText"])
            show("taps sent / in", f"{len(storm.taps)} / {sent_for:.1f} s")
            show("taps answered", f"{len(storm.ids & answers.keys())} / {len(storm.ids)}")
            show("answers", dict(texts))
            show("attendance rows / distinct pairs", f"{rows} / {distinct}")
            handled = last - storm.enqueued[storm.taps[0]["callback_query"]["id"]]
            show("all handled after the first tap", f"{handled:.1f} s")
            show("throughput", f"{len(answers) / max(last - min(storm.enqueued.values()), 1e-9):.0f} taps/s")
            show("bot CPU per tap (all its work / taps)", f"{cpu / len(storm.taps) * 1000:.2f} ms")
            if replicas > 1:
                show("taps handled by each replica",
                     [len(handler_ms(bot.log(), "cb:att:in")) for bot in bots])
            show("handler latency p50 / p95 / p99 / max",
                 f"{pct(ms, .5):.1f} / {pct(ms, .95):.1f} / {pct(ms, .99):.1f} / {max(ms):.1f} ms")
            show("fetch-to-answer latency p50 / p99",
                 f"{pct(to_answer, .5) * 1000:.0f} / {pct(to_answer, .99) * 1000:.0f} ms")
            show("tap-to-answer latency p50 / p99 (with backlog)",
                 f"{pct(backlog, .5) * 1000:.0f} / {pct(backlog, .99) * 1000:.0f} ms")
            show("post edits (live counts)", edits)
            if mode != "long polling" and code is None:
                show("webhook updates stored / done", bots[0].query(
                    "SELECT COUNT(*), SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) "
                    "FROM inboundupdate")[0])
            show("flood-limit violations", dict(Counter(v.kind for v in api.violations)))
            show("generic error replies", _generic_errors(api))
        finally:
            for bot in bots:
                bot.stop()
    return handled


def part_feishu(folder: Path, seconds: float, telegram: float | None, kill: bool) -> None:
    """The same storm through Feishu: 500 members of 50 groups tap 签到 on their group's card
    5,000 times (each ten times) over `seconds`, each tap POSTed to the bot's callback as
    Feishu signs and encrypts it, many at once. Every tap must be recorded once and answered
    with its toast, the cards patched within Feishu's 5 updates a second per message. With
    `kill`, the bot is SIGKILLed halfway and started again; taps that found it dead are
    delivered again, as Feishu does, until answered."""
    print(f"\n== Feishu storm (callback mode{', SIGKILL halfway' if kill else ''}): 500 users in "
          f"50 groups, 5,000 card taps in ~{seconds:.0f} s, load average "
          f"{os.getloadavg()[0]:.1f} ==", flush=True)
    from fakes.feishu import FakeFeishu
    from feishuproc import ADMIN, FeishuBot, Platform, buttons, message_text

    fake = FakeFeishu()
    groups = [f"oc_load{g:03d}" for g in range(50)]
    with fake.in_thread():
        platform = Platform(fake)
        for g, chat in enumerate(groups):
            fake.add_chat(chat, f"ou_sec{g:03d}", members=[(f"ou_sec{g:03d}", f"书记{g}")] + [
                (f"ou_m{g:03d}_{i}", f"党员{g}-{i}") for i in range(10)], name=f"支部{g}")
        bot = FeishuBot(fake, folder, mode="webhook").start()
        try:
            for chat in groups:
                platform.run(fake.deliver(bot.callback, fake.bot_added(chat, ADMIN, chat)))
            for g, chat in enumerate(groups):
                platform.run(fake.deliver(bot.callback, fake.message_event(
                    chat, f"ou_sec{g:03d}", "/remind 现在 主题党日 第1次学习", mention_bot=True)))
            deadline = time.monotonic() + 120
            cards: dict[str, Any] = {}
            while len(cards) < len(groups) and time.monotonic() < deadline:
                cards = {m.chat_id: m for m in fake.sent() if "主题党日" in message_text(m)
                         and buttons(m)}
                time.sleep(0.2)
            plan = [fake.card_action(cards[chat].message_id, chat, f"ou_m{g:03d}_{i}",
                                     {"v": buttons(cards[chat])["签到"]})
                    for g, chat in enumerate(groups) for i in range(10) for _ in range(10)]
            random.Random(7).shuffle(plan)
            bodies = [fake.signed(event) for event in plan]
            killer = None
            if kill:
                def kill_and_restart() -> None:
                    time.sleep(seconds / 2)
                    bot.end(signal.SIGKILL)
                    bot.start()
                killer = threading.Thread(target=kill_and_restart)
                killer.start()
            started = time.monotonic()
            results = platform.run(_deliver_storm(bot.callback, bodies, seconds), timeout=600)
            show("storm delivered in", f"{time.monotonic() - started:.1f} s")
            if killer is not None:
                killer.join()
            first = min(r[1] for r in results)
            handled = max(r[2] for r in results) - first
            toasts = Counter(r[0] for r in results)
            time.sleep(4)  # the trailing count edits
            ((rows, distinct),) = _sqlite(bot, "SELECT COUNT(*), COUNT(DISTINCT activity_id "
                                               "|| '-' || user_id) FROM attendance")
            patches = [c for c in fake.calls if c.method == "PATCH"]
            per_second = Counter((c.path, int(c.at)) for c in patches)
            show("taps delivered / answered with a toast", f"{len(results)} / "
                 f"{sum(n for text, n in toasts.items() if text)}")
            show("toasts", dict(toasts))
            show("deliveries repeated (bot down)", sum(r[3] for r in results))
            show("attendance rows / distinct pairs", f"{rows} / {distinct}")
            show("all handled after the first tap", f"{handled:.1f} s")
            if telegram:
                show("against Telegram's (same run)", f"{handled / telegram:.2f} x "
                     f"(Telegram {telegram:.1f} s; target <= 1.2 x)")
            show("card patches / refused by the 5-a-second limit",
                 f"{len(patches)} / {sum(c.code == 230020 for c in patches)}")
            show("most patches of one card in one second", max(per_second.values(), default=0))
            show("cards showing the full count",
                 sum("已签到 11" in message_text(fake.messages[cards[c].message_id])
                     for c in groups))
        finally:
            if bot.process is not None:
                bot.end()


async def _deliver_storm(url: str, bodies: list[tuple[bytes, dict[str, str]]],
                         seconds: float) -> list[tuple[str, float, float, int]]:
    """POST each (body, headers) at its turn over `seconds`, all in flight at once; one that
    meets no bot is delivered again a moment later. (toast, sent at, answered at, repeats)."""
    import aiohttp

    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        async def one(n: int, body: bytes, headers: dict[str, str]) -> tuple[str, float, float,
                                                                               int]:
            await asyncio.sleep(max(0.0, started + seconds * n / len(bodies) - loop.time()))
            sent, repeats = time.monotonic(), 0
            while True:
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        if response.status == 200:
                            answer = await response.json()
                            return ((answer.get("toast") or {}).get("content", ""), sent,
                                    time.monotonic(), repeats)
                except aiohttp.ClientError:
                    pass
                repeats += 1
                await asyncio.sleep(0.5)

        started = loop.time()
        return await asyncio.gather(*(one(n, body, headers)
                                      for n, (body, headers) in enumerate(bodies)))


def _sqlite(bot: Any, sql: str) -> list[tuple[Any, ...]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(bot.env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def part_faults(folder: Path) -> None:
    print("\n== faults: 1,000 taps through 429 and 502 bursts and slow answers ==", flush=True)
    world = World(groups=20, members=10)
    url = f"sqlite:///{folder / 'faults.db'}"
    with FakeBotApi() as api:
        world.enrol(api)
        bot = BotProcess(api, folder, database_url=url, branches=world.ids).start()
        try:
            posts = open_activities(api, world, per_group=5)
            injected: list[str] = []

            def faults(progress: float) -> None:
                for at, name, inject in (
                    (0.2, "429 x30 on answerCallbackQuery (retry_after 1)",
                     lambda: api.fail("answerCallbackQuery", status=429, count=30)),
                    (0.4, "502 x40 on any method",
                     lambda: api.fail("*", status=502, count=40)),
                    (0.5, "502 x5 on getUpdates", lambda: api.fail("getUpdates", status=502,
                                                                   count=5)),
                    (0.6, "6 s answers (> the 5 s client timeout) x3 on answerCallbackQuery",
                     lambda: api.slow("answerCallbackQuery", delay=6, count=3)),
                    (0.7, "6 s answers x3 on editMessageText",
                     lambda: api.slow("editMessageText", delay=6, count=3)),
                    (0.8, "2 s answers x20 on any method", lambda: api.slow("*", delay=2,
                                                                            count=20)),
                    (0.85, "connections refused for 1 s", lambda: refuse_for(api, 1.0)),
                    (0.9, "connections cut after the request was read x10 on any method",
                     lambda: api.drop("*", count=10)),
                ):
                    if progress >= at and name not in injected:
                        injected.append(name)
                        inject()

            mark = api.mark()
            storm = tap_storm(api, world, posts, seconds=10, on_progress=faults)
            answers = wait_answered(api, storm.ids, timeout=300)
            rows, distinct = attendance_count(bot)
            rejected = Counter((c.method, _status(c)) for c in api.rejected)
            for name in injected:
                show("injected", name)
            show("rejected calls (method, kind)", dict(rejected))
            show("taps answered", f"{len(storm.ids & answers.keys())} / {len(storm.ids)}")
            show("answers", dict(Counter(answers[i].params.get("text") for i in storm.ids
                                         if i in answers)))
            show("attendance rows / distinct pairs / taps", f"{rows} / {distinct} / "
                 f"{len(storm.taps)}")
            show("messages sent twice (same chat and text)", len(api.duplicate_sends()))
            show("callbacks answered more than once", sum(
                1 for n in Counter(str(c.params["callback_query_id"]) for c in
                                   api.calls[mark:] if c.method == "answerCallbackQuery"
                                   ).values() if n > 1))
            show("generic error replies", _generic_errors(api))
            show("retries logged by the bot", bot.log().count("; retry "))
            show("sends left in doubt, not repeated (the bot's count)",
                 bot.metric("dangjian_uncertain_sends_total"))
        finally:
            bot.stop()


def refuse_for(api: FakeBotApi, seconds: float) -> None:
    api.refuse_connections()
    threading.Timer(seconds, api.accept_connections).start()


def _status(call: HttpCall) -> str:
    return "429/403" if call.method.startswith("answer") else "rejected"


def _generic_errors(api: FakeBotApi) -> int:
    return sum(1 for c in api.calls if "处理您的请求时出错了" in c.text)


class CuttableProxy:
    """A TCP proxy to PostgreSQL on 127.0.0.1 that can be cut (connections reset, nothing
    accepted) and restored, on its own thread."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def open(self) -> None:
        self._run(self._open())

    def cut(self) -> None:
        self._run(self._cut())

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()

    async def _pipe(self, client_reader: asyncio.StreamReader,
                    client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}

        async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.transport.abort()
                self._writers.discard(writer)

        await asyncio.gather(copy(client_reader, server_writer),
                             copy(server_reader, client_writer))


def part_outage(postgres_url: str, folder: Path) -> None:
    print("\n== PostgreSQL cut off for 20 s ==", flush=True)
    from sqlalchemy.engine import make_url

    real = make_url(postgres_url)
    proxy = CuttableProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.open()
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    group, secretary, members = -3_000_001, 30_001, list(range(30_100, 30_140))
    with FakeBotApi() as api:
        api.set_admin(group, secretary)
        bot = BotProcess(api, folder, database_url=url, branches=[group]).start()
        try:
            post = exchange(api, "/remind 现在 主题党日 数据库演练", user_id=secretary, chat_id=group)
            for user in members[:5]:  # they have talked to the bot before
                exchange(api, "宣传主题多久定一次？", user_id=user)
            proxy.cut()
            cut_at = time.monotonic()
            asked = answered = writes = retry_replies = retry_to_questions = 0
            ready_codes = Counter()
            index = 0
            while time.monotonic() - cut_at < 20:
                user = members[index % 5]
                mark = api.mark()
                api.send("宣传主题多久定一次？", user_id=user, chat_id=user)
                asked += 1
                with contextlib.suppress(TimeoutError):
                    api.wait_for(lambda c, u=user: c.chat_id == u and "出处" in c.text,
                                 since=mark, timeout=5)
                    answered += 1
                retry_to_questions += any(RETRY_LATER in c.text for c in api.calls[mark:]
                                          if c.chat_id == user)
                mark = api.mark()
                api.tap(post, "签到", user_id=members[10 + index])
                answer = api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark,
                                      timeout=15)
                writes += 1
                retry_replies += RETRY_LATER in (answer.params.get("text") or "")
                ready_codes[bot.get("/readyz")[0]] += 1
                index += 1
                time.sleep(1.5)
            proxy.open()
            show("questions answered during the outage", f"{answered} / {asked}")
            show("questions that also got 稍后重试", f"{retry_to_questions} / {asked}")
            show("taps answered 稍后重试 during the outage", f"{retry_replies} / {writes}")
            show("/readyz during the outage", dict(ready_codes))
            recovered_ok = 0
            time.sleep(1)
            for user in members[10:10 + index]:
                mark = api.mark()
                api.tap(post, "签到", user_id=user)
                answer = api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark,
                                      timeout=15)
                recovered_ok += answer.params.get("text") == "签到成功！"
            show("the same taps after recovery: 签到成功", f"{recovered_ok} / {index}")
            show("/readyz after recovery", bot.get("/readyz")[0])
            show("process still running", bot.process is not None
                 and bot.process.poll() is None)
        finally:
            bot.stop()
            proxy.cut()


def part_broadcast(folder: Path, groups: int = 300) -> None:
    print(f"\n== a reminder to {groups} groups, SIGKILL mid-broadcast, restart ==", flush=True)
    url = f"sqlite:///{folder / 'broadcast.db'}"
    _due_broadcast(url, groups)
    with FakeBotApi(enforce_limits=True) as api:
        bot = BotProcess(api, folder, database_url=url, admins=str(ADMIN),
                         branches=[-2_000_000 - g for g in range(groups)]).start()
        try:
            is_broadcast = _broadcast_posts
            started = time.monotonic()
            api.wait_for_all(is_broadcast, groups // 3, timeout=60)
            bot.kill()
            before = len([c for c in api.calls if is_broadcast(c)])
            show("sent before SIGKILL", f"{before} in {time.monotonic() - started:.1f} s")
            log_at = len(bot.log())
            bot.start()
            deadline = time.monotonic() + 90
            while "leads the reminder scheduler" not in bot.log()[log_at:]:
                if time.monotonic() > deadline:
                    raise TimeoutError("the restarted process never led the scheduler")
                time.sleep(0.5)
            led_after = time.monotonic() - started
            _quiet(api, is_broadcast, quiet_for=5, timeout=120)
            per_chat = Counter(c.chat_id for c in api.calls if is_broadcast(c))
            statuses = dict(bot.query("SELECT status, COUNT(*) FROM delivery GROUP BY status"))
            show("restarted process led the scheduler after", f"{led_after:.1f} s")
            show("groups that got it", f"{len(per_chat)} / {groups}")
            show("groups that got it twice", sum(1 for n in per_chat.values() if n > 1))
            show("delivery rows by status", statuses)
            show("reports to the admin (uncertain sends)", len([
                c for c in api.calls_of("sendMessage", ADMIN)]))
            show("429s answered by the fake", len(api.rejected))
        finally:
            if bot.process is not None:
                bot.stop()


def _broadcast_posts(call: HttpCall) -> bool:
    return call.method == "sendMessage" and "全体党员请于本周五前完成" in call.text


def _due_broadcast(url: str, groups: int) -> None:
    """`groups` branches known to the bot and a 全部支部 notice that came due a moment ago."""
    now = datetime.now(UTC)
    services = build_services(Settings(DATABASE_URL=url, _env_file=None))
    admin = Actor(user_id=ADMIN, name="管理员", chat_id=ADMIN, is_global_admin=True)
    with services.db.session() as session:
        remember(session, admin)
        for g in range(groups):
            remember(session, Actor(user_id=ADMIN, name="管理员", chat_id=-2_000_000 - g,
                                    chat_type="supergroup", chat_title=f"第{g + 1}支部"))
        minute = now.astimezone(TZ).strftime("%H:%M")
        services.reminders.schedule(
            session, admin, f"全部支部 今天 {minute} 通知 全体党员请于本周五前完成党费缴纳",
            now=now - timedelta(minutes=2))
    services.db.dispose()


def _quiet(api: FakeBotApi, predicate: Any, quiet_for: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len([c for c in api.calls if predicate(c)])
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
        time.sleep(0.3)


@contextmanager
def postgres_database(base: str) -> Iterator[str | None]:
    """A fresh PostgreSQL database, dropped afterwards; None when the server is unreachable."""
    os.environ.setdefault("TEST_DATABASE_URL", base)
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            pass
    except OSError:
        yield None
        return
    databases = _fresh_postgres_database()
    try:
        yield next(databases)
    finally:
        databases.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["load", "faults", "outage", "broadcast", "feishu",
                                           "all"],
                        default="all")
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL",
                                                             DEFAULT_POSTGRES))
    parser.add_argument("--activities", type=lambda v: [int(n) for n in v.split(",")],
                        default=[1, 10], help="activities per group in the load part: 1,10")
    parser.add_argument("--rtt", type=float, default=0.0,
                        help="milliseconds every Bot API call takes in the load part")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="the load part's taps are spread over this many seconds")
    parser.add_argument("--webhook", action="store_true",
                        help="the load part in webhook mode instead of long polling")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--replicas", type=int, default=1,
                        help="the load part on PostgreSQL only, webhook mode, this many processes")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="before each load run, the same run with the bot of this checkout")
    args = parser.parse_args()
    os.environ["TEST_DATABASE_URL"] = args.postgres
    parts = ({"load", "faults", "outage", "broadcast", "feishu"} if args.part == "all"
             else {args.part})
    with tempfile.TemporaryDirectory(prefix="dangjian-load-") as tmp:
        folder = Path(tmp)
        if "load" in parts:
            codes = [args.baseline.resolve(), None] if args.baseline else [None]
            for activities in args.activities:
                for n, code in enumerate(codes if args.replicas == 1 else []):
                    sqlite_dir = folder / f"sqlite{activities}-{n}"
                    sqlite_dir.mkdir()
                    part_load(f"sqlite:///{sqlite_dir / 'load.db'}", "SQLite", sqlite_dir,
                              activities, args.rtt / 1000, args.seconds, args.webhook,
                              code=code)
                for n, code in enumerate([] if args.no_postgres else codes):
                    with postgres_database(args.postgres) as url:
                        if url is None:
                            print("\n(PostgreSQL unreachable: load on PostgreSQL skipped)")
                            break
                        (folder / f"pg{activities}-{n}").mkdir()
                        part_load(url, "PostgreSQL", folder / f"pg{activities}-{n}",
                                  activities, args.rtt / 1000, args.seconds, args.webhook,
                                  args.replicas, code=code)
        if "feishu" in parts:
            (folder / "telegram-storm").mkdir()
            telegram = part_load(f"sqlite:///{folder / 'telegram-storm' / 'load.db'}", "SQLite",
                                 folder / "telegram-storm", 1, args.rtt / 1000, args.seconds,
                                 webhook=True)
            for kill in (False, True):
                (folder / f"feishu-{kill}").mkdir()
                part_feishu(folder / f"feishu-{kill}", args.seconds, telegram, kill)
        if "faults" in parts:
            (folder / "faults").mkdir()
            part_faults(folder / "faults")
        if "outage" in parts:
            with postgres_database(args.postgres) as url:
                if url is None:
                    print("\n(PostgreSQL unreachable: outage part skipped)")
                else:
                    (folder / "outage").mkdir()
                    part_outage(url, folder / "outage")
        if "broadcast" in parts:
            (folder / "broadcast").mkdir()
            part_broadcast(folder / "broadcast")


if __name__ == "__main__":
    main()
