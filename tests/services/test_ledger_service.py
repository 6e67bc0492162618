"""The 台账 on SQLite and PostgreSQL: the workbook re-read with openpyxl, cell by cell, and the
CSV files beside it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest
from attendance_world import AFTER, BRANCH, START, TZ, actor, populate, scenario, secretary

from bot.cli import main
from bot.services import attendance, ledger, study
from storage.db import Database
from storage.models import Chat, Member

SHEETS = ["三会一课记录", "支部党员大会", "支委会", "党小组会", "党课", "主题党日", "中心组学习", "其他",
          "签到明细", "学习任务", "学习记录", "更正记录"]


def read(path: Path) -> dict[str, list[tuple]]:
    """Every sheet's rows from its header on (below the title block), each as wide as its
    header (empty cells are not stored at all)."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    book = {}
    for sheet in workbook.worksheets:
        rows = list(sheet.iter_rows(values_only=True))[ledger.TITLE_ROWS:]
        width = len(rows[0])
        book[sheet.title] = [row + (None,) * (width - len(row)) for row in rows]
    return book


@pytest.fixture
def world(db: Database) -> tuple[Database, dict[str, int]]:
    return db, scenario(db)


def test_workbook_cell_by_cell(world, tmp_path: Path) -> None:
    db, ids = world
    written = ledger.export(db, tmp_path / "台账.xlsx", ledger.Scope([BRANCH], TZ, AFTER))
    assert written == [tmp_path / "台账.xlsx"]
    book = read(written[0])
    assert list(book) == SHEETS
    for kind in ("支部党员大会", "支委会", "党小组会", "党课", "中心组学习", "其他"):
        assert book[kind] == [ledger.ACTIVITY_COLUMNS], kind
    held, task, cancelled = ids["held"], ids["task"], ids["cancelled"]
    assert book["主题党日"] == [
        ("时间", "地点", "主持人", "记录人", "应到", "实到", "请假", "缺席", "内容", "活动号", "支部",
         "迟到", "补签/代签", "请假人员（原因）", "缺席人员"),
        ("2026-11-20 15:00-17:00", "三楼会议室", "张三", "李四", 11, 3, 1, 7, "主题党日 学习党章",
         held, "第1支部", 1, 1, "党员4（出差）", "党员1、党员10、党员11、党员7、党员8、党员9"),
    ]
    assert book["三会一课记录"] == [
        ledger.MEETING_COLUMNS,
        ("2026-11-20 15:00-17:00", "主题党日", "主题党日 学习党章", "三楼会议室", "张三", "李四",
         11, 3, "党员6（无故缺席）；党员4（请假：出差）；党员1（未响应）；党员10（未响应）；"
         "党员11（未响应）；党员7（未响应）；党员8（未响应）；党员9（未响应）",
         None, None, None, "第1支部", held, None),  # no plans' duties in this Scope
    ]
    head = (held,)
    assert book["签到明细"] == [
        ledger.DETAIL_COLUMNS,
        head + ("党员2", "出席", "本人", None, None, "2026-11-20 14:55"),
        head + ("党员3", "出席", "迟到", None, None, "2026-11-20 15:20"),
        head + ("党员4", "请假", "本人", "出差", None, "2026-11-20 14:55"),
        head + ("党员5", "出席", "补签/代签", "手机没电", "党员1", "2026-11-21 15:00"),
        head + ("党员6", "缺席", "补签/代签", "无故缺席", "党员1", "2026-11-21 15:00"),
        *(head + (f"党员{u}", "缺席", "未响应", None, None, None) for u in (1, 10, 11, 7, 8, 9)),
    ]
    assert book["学习任务"] == [
        ledger.TASK_COLUMNS,
        (task, "2026-11-20 15:00", "第1支部", "学习《中国共产党章程》总纲", "2026-12-31", 11, 2,
         "18%", "党员1、党员10、党员11、党员4、党员5、党员6、党员7、党员8、党员9"),
    ]
    assert book["学习记录"] == [
        ledger.RECORD_COLUMNS,
        ("2026-11-20 15:20", "第1支部", "党员2", task, "学习《中国共产党章程》总纲", "深受教育"),
        ("2026-11-20 15:20", "第1支部", "党员3", task, "学习《中国共产党章程》总纲", None),
        ("2026-11-20 15:20", "第1支部", "党员4", None, "读《习近平谈治国理政》", "收获很大"),
    ]
    assert book["更正记录"] == [
        ledger.AUDIT_COLUMNS,
        ("2026-11-21 15:00", "第1支部", "党员1", f"补签：党员5 主题党日 #{held}",
         "未登记 → 出席；原因：手机没电"),
        ("2026-11-21 15:00", "第1支部", "党员1", f"登记缺席：党员6 主题党日 #{held}",
         "未登记 → 缺席；原因：无故缺席"),
        ("2026-11-21 15:00", "第1支部", "党员1", f"取消活动：党课 #{cancelled}", "党课 廉政教育"),
    ]


def test_csv_files_hold_the_same_rows(world, tmp_path: Path) -> None:
    db, _ = world
    written = ledger.export(db, tmp_path / "ledger.xlsx", ledger.Scope([BRANCH], TZ, AFTER),
                            with_csv=True)
    assert [p.name for p in written] == ["ledger.xlsx"] + [f"ledger-{s}.csv" for s in SHEETS]
    book = read(written[0])
    for path, title in zip(written[1:], SHEETS, strict=True):
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        expected = [["" if v is None else str(v) for v in row] for row in book[title]]
        assert rows == expected, title


def test_every_branch_for_the_whole_organisation(world, tmp_path: Path) -> None:
    db, ids = world
    [path] = ledger.export(db, tmp_path / "all.xlsx", ledger.Scope(None, TZ, AFTER))
    rows = read(path)["主题党日"]
    assert [(r[9], r[10], r[4], r[5]) for r in rows[1:]] == [
        (ids["held"], "第1支部", 11, 3), (ids["elsewhere"], "第2支部", 2, 1)
    ]


def test_future_activities_are_not_in_the_ledger_yet(world, tmp_path: Path) -> None:
    db, _ = world
    before = AFTER.replace(year=2025)
    [path] = ledger.export(db, tmp_path / "early.xlsx", ledger.Scope([BRANCH], TZ, before))
    book = read(path)
    assert book["主题党日"] == [ledger.ACTIVITY_COLUMNS]
    assert book["签到明细"] == [ledger.DETAIL_COLUMNS]


def test_cli_export_writes_the_workbook_and_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`dangjian export --out FILE.xlsx --csv` on the configured database."""
    db = Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    db.migrate()
    scenario(db)
    db.dispose()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    out = tmp_path / "out" / "台账.xlsx"
    assert main(["export", "--out", str(out), "--csv", "--chat", str(BRANCH)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"已写出：{out}" and len(printed) == 1 + len(SHEETS)
    assert read(out)["主题党日"][1][4:8] == (11, 3, 1, 7)
    assert (tmp_path / "out" / "台账-签到明细.csv").exists()


def test_control_characters_typed_by_members_do_not_break_the_workbook(db: Database,
                                                                        tmp_path: Path) -> None:
    """Control characters are dropped where text comes in (PostgreSQL refuses NUL), and in the
    ledger too (Excel files refuse them), e.g. for names Telegram gave us."""
    with db.session() as session:
        populate(session)
        session.get(Member, 2).display_name = "党员\x072"  # type: ignore[union-attr]
        session.merge(Chat(id=BRANCH, title="群", type="supergroup", branch_name="第一\x06支部"))
        activity = attendance.remind(session, secretary(), "15:00 主题\x08党日\x00", now=START,
                                     tz=TZ)
        attendance.record_leave(session, actor(2), activity.id, "出差\x1b在外", at=START,
                                now=START, tz=TZ)
    [path] = ledger.export(db, tmp_path / "odd.xlsx", ledger.Scope([BRANCH], TZ, AFTER))
    book = read(path)
    assert book["主题党日"][1][8] == "主题党日"
    assert book["签到明细"][1][1:5] == ("党员1", "出席", "主持人/记录人", "主持人")  # posted it
    assert book["签到明细"][2][1:5] == ("党员2", "请假", "本人", "出差在外")
    title = openpyxl.load_workbook(path, read_only=True)["签到明细"]["A1"].value
    assert "第一支部" in title  # a registered name with a control character in it


FORMULAS = {
    "reason": '=HYPERLINK("http://example.invalid/x","点此")',
    "note": "+1+cmd|' /C calc'!A0",
    "name": "@SUM(1+1)*cmd|' /C calc'!A0",
    "title": "-2+3+cmd|' /C calc'!A0",
    "tab": "\t=1+2",
    "return": "\r=3+4",
}


def test_text_that_looks_like_a_formula_is_stored_as_text(db: Database, tmp_path: Path) -> None:
    """OWASP CSV injection: whatever members or group titles begin with (=, +, -, @, a tab, a
    carriage return), the workbook holds a string cell, never a formula, and the CSV field
    begins with an apostrophe."""
    with db.session() as session:
        populate(session)
        session.get(Member, 2).display_name = FORMULAS["name"]  # type: ignore[union-attr]
        session.get(Member, 3).display_name = FORMULAS["tab"]  # type: ignore[union-attr]
        session.get(Chat, BRANCH).title = FORMULAS["return"]  # type: ignore[union-attr]
        activity = attendance.remind(session, secretary(), f"15:00 {FORMULAS['title']}",
                                     now=START, tz=TZ)
        attendance.record_leave(session, actor(2), activity.id, FORMULAS["reason"], at=START,
                                now=START, tz=TZ)
        task = study.post_task(session, secretary(), "学习党章", now=START, tz=TZ)
        study.complete_task(session, actor(3), task.id, at=START, now=START,
                            note=FORMULAS["note"])
    written = ledger.export(db, tmp_path / "台账.xlsx", ledger.Scope([BRANCH], TZ, AFTER),
                            with_csv=True)
    workbook = openpyxl.load_workbook(written[0])
    cells = [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    texts = {c.value for c in cells if c.data_type == "s"}
    assert set(FORMULAS.values()) <= texts
    fields = [field for path in written[1:]
              for row in csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline=""))
              for field in row]
    assert [f for f in fields if f.startswith(ledger.FORMULA_STARTS)] == []
    assert {"'" + formula for formula in FORMULAS.values()} <= set(fields)
