"""名册 and duties figures.

    python bench/roster.py [--names 2000]

Prints:
  * reading a 名册 .xlsx of `--names` rows (the most a file may hold is 2,000) and importing
    it into a branch on SQLite, then importing it again (every name matched, links kept);
  * on the real plans (../shared/plans, when there): how many duties the calendar holds and
    how many are a branch's own. The /duties message itself (one message of at most 1,500
    characters) is measured by `pytest -s tests/handlers/test_duties_handlers.py -k real`.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openpyxl import Workbook  # noqa: E402

from bot.services import members  # noqa: E402
from bot.services.duties import DutyService  # noqa: E402
from bot.services.localtime import zone  # noqa: E402
from bot.services.people import Actor  # noqa: E402
from bot.services.roster_file import read_roster  # noqa: E402
from content.ingest import parse_plan, read_document  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Chat  # noqa: E402

BRANCH = -100
PLANS = ROOT.parent / "shared" / "plans"
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def roster_figures(names: int) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "党小组", "职务", "手机"])
    for n in range(names):
        sheet.append([f"党员{n:04d}", f"第{n // 100 + 1}党小组", "", f"1380000{n:04d}"])
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    started = time.perf_counter()
    parsed = read_roster("名册.xlsx", data)
    print(f"read a {names}-name .xlsx ({len(data) / 1024:.0f} KB): "
          f"{time.perf_counter() - started:.2f} s")
    db = Database("sqlite://")
    db.migrate()
    secretary = Actor(user_id=1, name="书记", chat_id=BRANCH, chat_type="supergroup",
                      is_chat_admin=True)
    for label in ("import", "re-import"):
        started = time.perf_counter()
        with db.session() as session:
            result = members.import_roster(session, secretary, BRANCH, parsed.rows, now=NOW)
        print(f"{label} of {result.total} names (added {result.added}): "
              f"{time.perf_counter() - started:.2f} s")
    db.dispose()


def duties_figures() -> None:
    if not PLANS.is_dir():
        print("the real plans (../shared/plans) are not here: /duties figures skipped")
        return
    plans = [parse_plan(p.name, read_document(p)) for p in sorted(PLANS.glob("*.txt"))]
    service = DutyService(lambda: plans, zone("Asia/Shanghai"))
    db = Database("sqlite://")
    db.migrate()
    with db.session() as session:
        session.add(Chat(id=BRANCH, title="第一支部", type="supergroup", created_at=NOW))
    with db.session() as session:
        own, _ = service.own(session, BRANCH, service.today(NOW))
    sentences = sum(1 + len(duty.also) for duty in service.calendar())
    print(f"calendar: {len(service.calendar())} duties from {sentences} sentences, "
          f"{len(own)} of them the branch's own")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=2000)
    args = parser.parse_args()
    roster_figures(args.names)
    duties_figures()


if __name__ == "__main__":
    main()
