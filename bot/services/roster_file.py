"""Reading a 名册 a secretary sends: an .xlsx or .csv whose header row names 姓名 and, as it
may, 党小组, 职务 and 手机/电话 (written as offices write them: 党员姓名, 所在党小组, 联系电话…).

Plain bytes in, rows out, no database: the handler runs it in a thread (asyncio.to_thread),
bounded by MAX_BYTES and MAX_ROWS. A file that cannot be used raises UserError saying why, and
then nothing is stored.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.services.errors import UserError
from bot.services.typed import clean

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 2000
MAX_COLUMNS = 50
HEADER_SEARCH_ROWS = 10
"""A 名册 often opens with a title row (“第一党支部党员名册”): the header is looked for below."""
NAME_MAX = 32
FORMAT_HINT = "名册第一行写表头：姓名、党小组、职务、手机（后三列可省略），每行一名党员。"

FIELDS: dict[str, tuple[str, ...]] = {  # what a header cell may say, per field
    "name": ("姓名", "名字", "name"),
    "party_group": ("党小组", "小组", "group"),
    "position": ("职务", "职位", "党内职务", "position", "title"),
    "phone": ("手机", "电话", "联系方式", "phone", "mobile"),
}
_SPACE = re.compile(r"\s+")
_CJK_ONLY = re.compile(r"^[\u3400-\u9fff·•\s]+$")


@dataclass(frozen=True)
class RosterRow:
    name: str
    party_group: str = ""
    position: str = ""
    phone: str = ""


@dataclass(frozen=True)
class RosterFile:
    rows: list[RosterRow]
    skipped: int  # lines with other cells filled but no name


def read_roster(file_name: str, data: bytes) -> RosterFile:
    """The members listed in an .xlsx or .csv 名册."""
    if len(data) > MAX_BYTES:
        raise UserError(f"名册文件过大（{len(data) / 1024 / 1024:.1f} MB），请控制在 2 MB 以内。")
    suffix = Path(file_name).suffix.lower()
    if suffix == ".xlsx":
        table = _xlsx_rows(data)
    elif suffix in (".csv", ".txt"):
        table = _csv_rows(data)
    elif suffix in (".xls", ".et", ".wps"):
        raise UserError("暂不支持旧版 .xls 格式，请在 Excel/WPS 中另存为 .xlsx 或 .csv 后再发送。")
    else:
        raise UserError(f"名册须为 .xlsx 或 .csv 文件（收到的是“{suffix or '无扩展名'}”）。")
    return _rows(table)


def _xlsx_rows(data: bytes) -> Iterator[Sequence[object]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UserError("无法打开这个 Excel 文件（已损坏或不是 .xlsx 格式），请另存为 .xlsx 或 .csv 后重试。"
                        ) from exc
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise UserError("这个 Excel 文件里没有工作表。" + FORMAT_HINT)
        yield from sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
    finally:
        book.close()


def _csv_rows(data: bytes) -> Iterator[Sequence[object]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on a Chinese Windows saves CSV as GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UserError("无法识别 CSV 文件的编码，请用 UTF-8 或 GBK 编码保存。")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",\t;，")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(io.StringIO(text), dialect)


def _header(cell: object) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(cell or ""))).lower().strip("*：:")


def _columns(row: Sequence[object]) -> dict[str, int]:
    """Which column holds each field, if this row is the header (it names 姓名)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(row[:MAX_COLUMNS]):
        header = _header(cell)
        if not header:
            continue
        for field, words in FIELDS.items():
            if field not in found and any(word in header for word in words):
                found[field] = index
                break
    return found if "name" in found else {}


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone number Excel stored as a number
    return clean(unicodedata.normalize("NFKC", str(value))) if value is not None else ""


def _rows(table: Iterable[Sequence[object]]) -> RosterFile:
    rows: list[RosterRow] = []
    columns: dict[str, int] = {}
    skipped = 0
    for number, row in enumerate(table, 1):
        if not columns:
            columns = _columns(row)
            if not columns and number >= HEADER_SEARCH_ROWS:
                break
            continue
        values = {field: _text(row[index]) if index < len(row) else ""
                  for field, index in columns.items()}
        name = values.get("name", "")
        if _CJK_ONLY.match(name):
            name = _SPACE.sub("", name)  # “张  三”, padded to line up in the sheet
        if not name:
            skipped += any(values.values())
            continue
        if len(name) > NAME_MAX:
            raise UserError(f"第 {number} 行的姓名过长（“{name[:20]}…”），请检查该行。")
        if len(rows) >= MAX_ROWS:
            raise UserError(f"名册超过 {MAX_ROWS} 人，请按支部拆分后分别导入。")
        rows.append(RosterRow(name, values.get("party_group", "")[:64],
                              values.get("position", "")[:64], values.get("phone", "")[:32]))
    if not columns:
        raise UserError("名册中没有找到“姓名”列。" + FORMAT_HINT)
    if not rows:
        raise UserError("名册中没有成员（“姓名”列下面是空的）。" + FORMAT_HINT)
    return RosterFile(rows, skipped)
