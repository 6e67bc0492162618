"""Attendance benchmark: check-ins through the service layer, /stats over a year, a big export.

    python bench/attendance.py [--postgres URL] [--rows 100000]

Prints, on SQLite (a WAL file, as deployed) and on PostgreSQL (a temporary database, created
and dropped; URL from --postgres or TEST_DATABASE_URL, skipped when neither is given):
  * 10,000 check-ins, each its own transaction through `attendance.check_in` (target ≥ 2,000/s
    on SQLite), and the same taps again (all answered 已签到);
  * /stats 本年 for a branch of 100 members with 60 activities (target ≤ 200 ms), and the chart;
  * the ledger export of 100,000 attendance rows in a fresh process (target ≤ 10 s and
    ≤ 300 MB peak RSS), plus the Python heap peak of the same export under tracemalloc;
  * taps during /export (`--only export-taps`): the real `dangjian run` (webhook mode, as
    deployed with replicas; `--polling` for long polling) against the fake Bot API, 500 members
    of 50 other groups tapping 签到, first on their own, then while a secretary's /export of
    100,000 rows runs (in a process of its own, at a lower CPU priority): tap-to-answer
    p50/p99 side by side (target p99 ≤ 200 ms during it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import select  # noqa: E402

from bot.services import attendance, ledger, stats  # noqa: E402
from bot.services.localtime import zone  # noqa: E402
from bot.services.people import Actor  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import (  # noqa: E402
    Activity,
    Attendance,
    BranchMembership,
    Chat,
    Member,
    StudyRecord,
    StudyTask,
)

TZ = zone("Asia/Shanghai")
BRANCH = -1001
YEAR_START = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 20, 8, 0, tzinfo=UTC)


@contextmanager
def sqlite_database(folder: Path, name: str) -> Iterator[Database]:
    db = Database(f"sqlite:///{folder / name}")
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def postgres_database(base: str) -> Iterator[Database]:
    """A fresh database of our own on the server, dropped afterwards."""
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"dj_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(url.set(database=name).render_as_string(hide_password=False))
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def people(db: Database, members: int) -> list[int]:
    """A branch with `members` members on its roster since before the year began."""
    ids = list(range(10_000, 10_000 + members))
    with db.session() as session:
        session.add(Chat(id=BRANCH, title="第一支部", type="supergroup"))
        session.connection().execute(insert(Member), [{"id": u, "display_name": f"党员{u}"} for u in ids])
        session.connection().execute(insert(BranchMembership), [
            {"chat_id": BRANCH, "user_id": u, "joined_at": YEAR_START - timedelta(days=30)}
            for u in ids
        ])
    return ids


def activities(db: Database, count: int, spacing: timedelta) -> list[int]:
    with db.session() as session:
        opened = [
            attendance.open_activity(session, BRANCH, f"主题党日 第{i + 1}次", "主题党日",
                                     YEAR_START + i * spacing, place="三楼会议室", host="书记")
            for i in range(count)
        ]
    return [a.id for a in opened]  # type: ignore[misc]


def bench_check_ins(db: Database, label: str) -> None:
    members = people(db, 100)
    meetings = activities(db, 200, timedelta(days=1))
    with db.session() as session:
        starts = dict(session.exec(select(Activity.id, Activity.starts_at)).all())
    taps = [(Actor(u, f"党员{u}", BRANCH, "supergroup"), a) for a in meetings for u in members]
    sequential, threaded = taps[:10_000], taps[10_000:]

    def tap(pair: tuple[Actor, int]) -> bool:
        actor, activity_id = pair
        at = starts[activity_id]
        with db.session() as session:
            return attendance.check_in(session, actor, activity_id, at=at, now=at, tz=TZ).changed

    def timed(batch: list[tuple[Actor, int]], workers: int = 1) -> tuple[float, float, int]:
        began, cpu = time.perf_counter(), time.process_time()
        if workers == 1:
            changed = sum(map(tap, batch))
        else:
            with ThreadPoolExecutor(workers) as pool:
                changed = sum(pool.map(tap, batch, chunksize=50))
        return time.perf_counter() - began, time.process_time() - cpu, changed

    first, first_cpu, recorded = timed(sequential)
    again, _, changed_again = timed(sequential)
    parallel, _, _ = timed(threaded, workers=8)
    with db.session() as session:
        rows = session.exec(text("SELECT count(*) FROM attendance")).one()[0]  # type: ignore[call-overload]
    print(f"  check-ins on {label}: 10,000 one after another in {first:.2f} s = "
          f"{10_000 / first:,.0f}/s (CPU {first_cpu:.2f} s; target ≥ 2,000/s on SQLite), "
          f"{recorded:,} recorded")
    print(f"  the same 10,000 taps again: {10_000 / again:,.0f}/s, {changed_again} changed "
          f"(each answered 已签到)")
    print(f"  another 10,000 from 8 threads: {10_000 / parallel:,.0f}/s; "
          f"{rows:,} rows for 20,000 check-ins")


def year_of_meetings(db: Database, members: int, meetings: int) -> list[int]:
    """A year: `meetings` activities with ~85% present, ~5% leave, 12 study tasks."""
    ids = people(db, members)
    held = activities(db, meetings, timedelta(days=365 // meetings))
    secretary = Actor(1, "书记", BRANCH, "supergroup", is_chat_admin=True)
    rows = []
    for n, activity_id in enumerate(held):
        for i, user_id in enumerate(ids):
            slot = (i + n) % 20
            if slot < 17:
                rows.append({"activity_id": activity_id, "user_id": user_id, "status": "present",
                             "method": "late" if slot == 0 else "self", "reason": "",
                             "recorded_by": user_id, "recorded_at": NOW, "message_at": NOW})
            elif slot == 17:
                rows.append({"activity_id": activity_id, "user_id": user_id, "status": "leave",
                             "method": "self", "reason": "出差", "recorded_by": user_id,
                             "recorded_at": NOW, "message_at": NOW})
    with db.session() as session:
        for start in range(0, len(rows), 5000):
            session.connection().execute(insert(Attendance), rows[start:start + 5000])
        tasks = [StudyTask(chat_id=BRANCH, content=f"学习任务{m + 1}",
                           created_at=YEAR_START + timedelta(days=30 * m),
                           created_by=secretary.user_id) for m in range(12)]
        session.add_all(tasks)
        session.flush()
        session.connection().execute(insert(StudyRecord), [
            {"task_id": t.id, "user_id": u, "chat_id": BRANCH, "content": "", "note": "",
             "recorded_at": NOW, "message_at": NOW}
            for t in tasks for u in ids[: members * 3 // 4]
        ])
    return ids


def bench_stats(db: Database, label: str) -> None:
    year_of_meetings(db, 100, 60)
    secretary = Actor(1, "书记", BRANCH, "supergroup", is_chat_admin=True)
    timings, charts = [], []
    for _ in range(7):
        began = time.perf_counter()
        with db.session() as session:
            report = stats.stats(session, secretary, ["本年"], now=NOW, tz=TZ)
            stats.render_report(report, TZ)
            stats.render_missing(session, report, TZ)
        timings.append(time.perf_counter() - began)
        began = time.perf_counter()
        stats.chart(report, TZ)
        charts.append(time.perf_counter() - began)
    print(f"  /stats 本年, 100 members × 60 activities on {label}: "
          f"median {statistics.median(timings) * 1000:.0f} ms (first {timings[0] * 1000:.0f} ms; "
          f"target ≤ 200 ms); chart PNG median {statistics.median(charts[1:]) * 1000:.0f} ms "
          f"(first, with font loading, {charts[0] * 1000:.0f} ms)")


def _export_child(url: str, out: str, traced: bool, results: multiprocessing.Queue) -> None:
    """Runs in a fresh process, so its peak RSS is the export's own."""
    db = Database(url)
    if traced:
        tracemalloc.start()
    began, cpu = time.perf_counter(), time.process_time()
    ledger.export(db, Path(out), ledger.Scope([BRANCH], TZ, NOW), with_csv=True)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    peak_heap = tracemalloc.get_traced_memory()[1] if traced else 0
    results.put((seconds, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, peak_heap))


def bench_export(db: Database, label: str, rows: int, folder: Path) -> None:
    members = 1000
    year_of_meetings(db, members, -(-rows * 20 // (members * 18)))
    with db.session() as session:
        count = session.exec(text("SELECT count(*) FROM attendance")).one()[0]  # type: ignore[call-overload]
    context = multiprocessing.get_context("spawn")
    measured = []
    for traced in (False, True):
        results = context.Queue()
        child = context.Process(target=_export_child,
                                args=(db.url, str(folder / f"ledger-{label}.xlsx"), traced,
                                      results))
        child.start()
        measured.append(results.get())
        child.join()
    (seconds, cpu, rss_kb, _), (_, _, _, heap) = measured
    size = (folder / f"ledger-{label}.xlsx").stat().st_size
    print(f"  export of {count:,} attendance rows on {label} (xlsx + CSV): {seconds:.1f} s, "
          f"CPU {cpu:.1f} s (target ≤ 10 s), peak RSS {rss_kb / 1024:.0f} MB (target ≤ 300 MB), "
          f"Python heap peak {heap / 2**20:.0f} MB, workbook {size / 2**20:.1f} MB")


SECRETARY = 1
"""BRANCH's secretary in the seeded year (a group admin in the fake Bot API)."""


def bench_taps_during_export(db: Database, label: str, rows: int, folder: Path,
                             polling: bool = False) -> None:
    """Tap-to-answer latency of other members' taps, without and during a /export."""
    from botproc import BotProcess
    from fake_bot_api import FakeBotApi
    from load import World, open_activities, pct, tap_storm, wait_answered

    members = 1000
    year_of_meetings(db, members, -(-rows * 20 // (members * 18)))
    with db.session() as session:
        count = session.exec(text("SELECT count(*) FROM attendance")).one()[0]  # type: ignore[call-overload]
    world = World(groups=50, members=10)
    mode = "long polling" if polling else "webhook"
    with FakeBotApi() as api:
        world.enrol(api)
        api.set_admin(BRANCH, SECRETARY)
        bot = BotProcess(api, folder, database_url=db.url, branches=[*world.ids, BRANCH],
                         webhook_secret=None if polling else "bench-webhook-secret").start()
        try:
            def storm(per_group: int, seconds: float) -> tuple[dict[str, float], dict[str, float]]:
                """Each member taps each new post once; when each tap was sent, and how long
                each took to be answered."""
                posts = open_activities(api, world, per_group=per_group)
                taps = tap_storm(api, world, posts, seconds=seconds)
                answers = wait_answered(api, taps.ids, timeout=600)
                return taps.enqueued, {i: answers[i].at - taps.enqueued[i]
                                       for i in taps.ids if i in answers}

            storm(1, 10)  # each member seen once: the first tap also stores who they are
            _, alone = storm(1, 10)
            mark = api.mark()
            asked = time.monotonic()
            api.send("/export", user_id=SECRETARY, chat_id=BRANCH)
            sent, latency = storm(2, 20)
            [workbook, _bundle] = api.wait_for_all(
                lambda c: c.method == "sendDocument", 2, since=mark, timeout=600)
            exported = workbook.at
            during = [latency[i] for i, at in sent.items() if asked <= at <= exported
                      and i in latency]
        finally:
            bot.stop()
    ms = [v * 1000 for v in alone.values()]
    busy = [v * 1000 for v in during]
    print(f"  taps on {label} ({mode}), 500 members of 50 groups; the export: {count:,} "
          f"attendance rows, /export answered (workbook sent) after {exported - asked:.1f} s")
    print(f"    without an export: {len(ms)} taps, p50 {pct(ms, .5):.0f} ms, "
          f"p99 {pct(ms, .99):.0f} ms")
    print(f"    during the export: {len(busy)} taps, p50 {pct(busy, .5):.0f} ms, "
          f"p99 {pct(busy, .99):.0f} ms (target ≤ 200 ms)")


def _fresh(folder: Path, label: str) -> Path:
    """A working folder of its own for a bot process."""
    path = folder / f"bot-{label}"
    path.mkdir()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", choices=("checkins", "stats", "export", "export-taps"),
                        help="run one part of the benchmark")
    parser.add_argument("--polling", action="store_true",
                        help="export-taps in long polling mode instead of webhook mode")
    args = parser.parse_args()
    parts = [
        (name, run) for name, run in (
            ("checkins", bench_check_ins), ("stats", bench_stats),
            ("export", lambda db, label: bench_export(db, label, args.rows, folder)),
            ("export-taps", lambda db, label: bench_taps_during_export(
                db, label, args.rows, _fresh(folder, label), args.polling)),
        ) if args.only in (None, name)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("SQLite (WAL file):")
        for name, run in parts:
            with sqlite_database(folder, f"{name}.db") as db:
                run(db, "SQLite")
        if not args.postgres:
            print("PostgreSQL: skipped (no --postgres URL or TEST_DATABASE_URL)")
            return
        print("PostgreSQL (temporary database):")
        for _name, run in parts:
            with postgres_database(args.postgres) as db:
                run(db, "PostgreSQL")

if __name__ == "__main__":
    main()
