"""Reading a 名册: .xlsx and .csv as offices write them, and files that cannot be used."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from bot.services import UserError
from bot.services.roster_file import MAX_ROWS, RosterRow, read_roster


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_with_a_title_row_and_office_headers() -> None:
    """The header is found below a title row; 党员姓名/所在党小组/党内职务/联系电话 are the four
    fields; names padded with spaces are joined; a phone stored as a number reads as digits."""
    data = xlsx([
        ["第一党支部党员名册"],
        ["序号", "党员姓名", "所在党小组", "党内职务", "联系电话"],
        [1, "张  三", "第一党小组", "支部书记", 13800138000],
        [2, "李四", "第二党小组", None, "139 0013 9000"],
        [3, None, None, None, None],
        [4, "王五", "第一党小组", "组织委员", None],
    ])
    parsed = read_roster("名册.xlsx", data)
    assert parsed.rows == [
        RosterRow("张三", "第一党小组", "支部书记", "13800138000"),
        RosterRow("李四", "第二党小组", "", "139 0013 9000"),
        RosterRow("王五", "第一党小组", "组织委员", ""),
    ]
    assert parsed.skipped == 0


def test_csv_in_gbk_with_only_names_and_a_skipped_line() -> None:
    """Excel on a Chinese Windows writes CSV in GBK; a line with cells but no name is counted
    as skipped, not stored."""
    text = "姓名,手机\n张三,13800138000\n,13900000000\n赵六,\n"
    parsed = read_roster("members.CSV", text.encode("gbk"))
    assert parsed.rows == [RosterRow("张三", phone="13800138000"), RosterRow("赵六")]
    assert parsed.skipped == 1


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("名册.xlsx", xlsx([["序号", "党小组", "职务"], [1, "一组", "委员"]]), "没有找到“姓名”列"),
    ("名册.xlsx", xlsx([["姓名", "党小组"]]), "没有成员"),
    ("名册.xlsx", b"PK\x03\x04 not really a zip", "无法打开这个 Excel 文件"),
    ("名册.xls", b"\xd0\xcf\x11\xe0", "暂不支持旧版 .xls"),
    ("名册.docx", b"", "须为 .xlsx 或 .csv"),
    ("名册.csv", b"\xff\xfe\x00\xd8" * 10, "编码"),
    ("名册.csv", b"x" * (2 * 1024 * 1024 + 1), "过大"),
    ("名册.csv", ("姓名\n" + "张" * 40 + "\n").encode(), "第 2 行的姓名过长"),
    ("名册.csv", ("姓名\n" + "".join(f"党员{i}\n" for i in range(MAX_ROWS + 1))).encode(),
     "超过 2000 人"),
])
def test_a_file_that_cannot_be_used_says_why(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        read_roster(name, data)


def test_an_xlsx_without_worksheets_content_is_refused() -> None:
    """A zip that is no workbook is reported, not a crash."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(UserError, match="无法打开"):
        read_roster("名册.xlsx", buffer.getvalue())
