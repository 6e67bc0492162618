"""Plan documents (txt, md, docx, pdf) -> a tree of sections that follows the plan's own numbering.

Plans mix numbering styles freely (一、 / （一） / 1. / 1、 / (1) / ① / 第一条); the tree is built
from the order in which styles appear, so an unseen mix nests the way its author meant.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".docx", ".pdf"}

CN_DIGITS = "一二三四五六七八九十百零〇两"
MARKERS: list[tuple[str, re.Pattern[str]]] = [
    ("chapter", re.compile(rf"^第[{CN_DIGITS}\d]+[章部篇]\s*")),
    ("cn", re.compile(rf"^[{CN_DIGITS}]+\s*[、.．]\s*")),
    ("paren_cn", re.compile(rf"^[（(]\s*[{CN_DIGITS}]+\s*[）)]\s*[、.．]?\s*")),
    ("article", re.compile(rf"^第[{CN_DIGITS}\d]+条\s*")),
    ("num", re.compile(r"^\d{1,3}\s*(?:[.．、](?!\d)|\s)\s*")),
    ("paren_num", re.compile(r"^[（(]\s*\d{1,3}\s*[）)]\s*[、.．]?\s*")),
    ("num_paren", re.compile(r"^\d{1,3}[）)]\s*")),
    ("circled", re.compile(r"^[①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳]\s*")),
]
ENUMERATION = re.compile(r"(?:^|(?<=[。；;：:，,]))\s*([一二三四五六七八九十]+是)")
LEVELS = {"chapter": "part", "cn": "part", "paren_cn": "subsection"}
SENTENCE_END = "。！？!?"
HEADING_MAX = 60
TITLE_WORDS = ("要点", "计划", "方案", "意见", "安排", "通知", "规划", "细则", "办法", "制度")


class UnreadableDocument(Exception):
    """A file that cannot be turned into text (unsupported type, corrupt, empty)."""


class PlansDirError(Exception):
    """DANGJIAN_PLANS_DIR missing, empty or with nothing readable: an error at start, never a
    silently empty knowledge base."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one file, so that a small hostile file cannot stall or exhaust the bot."""

    file_bytes: int = 10 * 1024 * 1024
    docx_unpacked_bytes: int = 50 * 1024 * 1024
    docx_entries: int = 2000
    pdf_pages: int = 300
    text_chars: int = 1_000_000
    parse_seconds: float = 20.0
    memory_bytes: int = 1024 * 1024 * 1024


LIMITS = Limits()


class OverLimit(UnreadableDocument):
    """A file over one of the bounds; the message names the bound."""


def check_limits(name: str, data: bytes, limits: Limits = LIMITS) -> None:
    """What can be checked before parsing: the file's size, a .docx's unpacked size and number
    of parts (from the zip directory; zipfile never inflates a part beyond its declared size)."""
    if len(data) > limits.file_bytes:
        raise OverLimit(f"文件超过 {limits.file_bytes // 2**20}MB 的上限")
    if Path(name).suffix.lower() != ".docx":
        return
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UnreadableDocument("文件已损坏或不是有效的 docx") from exc
    if len(entries) > limits.docx_entries:
        raise OverLimit(f"docx 内部文件数超过 {limits.docx_entries} 个的上限")
    if sum(entry.file_size for entry in entries) > limits.docx_unpacked_bytes:
        raise OverLimit(f"docx 解压后超过 {limits.docx_unpacked_bytes // 2**20}MB 的上限")


def read_bounded(name: str, data: bytes, limits: Limits = LIMITS) -> str:
    """The text of a file within the bounds (size, unpacked size, pages, text length)."""
    check_limits(name, data, limits)
    text = read_document_bytes(name, data, limits)
    if len(text) > limits.text_chars:
        raise OverLimit(f"文字超过 {limits.text_chars // 10_000} 万字的上限")
    return text


@dataclass
class Section:
    """A node of the plan: part, subsection, item or an unnumbered paragraph."""

    ordinal: int
    level: str
    style: str
    heading: str
    text: str
    parent: int | None
    path: list[str] = field(default_factory=list)
    children: list[int] = field(default_factory=list)

    @property
    def path_text(self) -> str:
        return " › ".join(self.path)


@dataclass
class ParsedPlan:
    name: str
    title: str
    text: str
    sections: list[Section]

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def read_document(path: Path) -> str:
    """The text of a txt/md/docx/pdf file; raises UnreadableDocument with a Chinese reason."""
    return read_document_bytes(path.name, path.read_bytes())


def read_document_bytes(name: str, data: bytes, limits: Limits = LIMITS) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableDocument(f"不支持的文件类型 {suffix or '（无扩展名）'}，支持 txt、md、docx、pdf")
    try:
        if suffix == ".docx":
            text = _docx_text(data)
        elif suffix == ".pdf":
            text = _pdf_text(data, limits.pdf_pages)
        else:
            text = _decode(data)
            if suffix in (".md", ".markdown"):
                text = _strip_markdown(text)
    except (UnreadableDocument, MemoryError):
        raise
    except Exception as exc:  # parsers raise many types on corrupt files
        raise UnreadableDocument(f"文件已损坏或无法解析（{type(exc).__name__}）") from exc
    if not text.strip():
        raise UnreadableDocument("文件中没有可读取的文字")
    return text


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableDocument("无法识别文字编码（请保存为 UTF-8）")


def _strip_markdown(text: str) -> str:
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^\s{0,3}#{1,6}\s*", "", line)
        line = re.sub(r"^\s*[-*+]\s+", "", line)
        line = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", line)
        lines.append(line)
    return "\n".join(lines)


def _docx_text(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" ".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def _pdf_text(data: bytes, max_pages: int) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if len(reader.pages) > max_pages:
        raise OverLimit(f"PDF 超过 {max_pages} 页的上限（共 {len(reader.pages)} 页）")
    lines: list[str] = []
    for page in reader.pages:
        lines.extend((page.extract_text() or "").splitlines())
    return _join_wrapped_lines(lines)


def _join_wrapped_lines(lines: list[str]) -> str:
    """PDF text is wrapped at the page width: rejoin lines that do not end a paragraph."""
    paragraphs: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        previous = paragraphs[-1] if paragraphs else ""
        continues = (
            previous
            and previous[-1] not in SENTENCE_END + "；;：:"
            and marker_of(line) is None
            and not _is_heading_line(previous)
        )
        if continues:
            paragraphs[-1] = previous + line
        else:
            paragraphs.append(line)
    return "\n".join(paragraphs)


def marker_of(line: str) -> tuple[str, re.Match[str]] | None:
    for style, pattern in MARKERS:
        match = pattern.match(line)
        if match:
            return style, match
    return None


def _is_heading_line(line: str) -> bool:
    """A numbered line that is all title: short, and no sentence ends inside it."""
    return (
        marker_of(line) is not None
        and len(line) <= HEADING_MAX
        and not any(ch in line for ch in SENTENCE_END)
    )


def _item_title(body: str) -> str:
    """An item reads '标题。正文…'; a heading line is all title; a bare sentence has none."""
    body = body.strip()
    if len(body) <= HEADING_MAX and not any(ch in body[:-1] for ch in "。！？"):
        return body.rstrip("。")
    match = re.match(r"^(.{2,40}?)[。：:]", body)
    return match.group(1) if match else ""


def _guess_title(lines: list[str], name: str) -> tuple[str, int | None]:
    """The first title-like line among the few before the body ('2022年党建工作要点',
    '《…》', a short unnumbered heading) and its index; else, for a plan that starts straight
    with its body ('2022年是…'), '<year>年党建工作要点' when it is one; else the file's stem."""
    head = []
    for index, line in enumerate(lines[:5]):
        if marker_of(line) is not None:
            break
        candidate = line.strip("《》 ")
        if candidate and len(candidate) <= 40 and candidate[-1] not in SENTENCE_END + "，；：,;:":
            head.append((index, candidate, line.startswith("《") and line.endswith("》")))
    for index, candidate, quoted in head:
        if quoted or any(word in candidate for word in TITLE_WORDS):
            return candidate, index
    if head and head[0][0] == 0 and len(lines) > 1 and len(head[0][1]) <= 30:
        return head[0][1], 0
    opening = "".join(lines[:2])
    year = re.match(r"^(\d{4})年", opening)
    if year and "党建" in opening and any(marker_of(line) for line in lines[:50]):
        return f"{year.group(1)}年党建工作要点", None
    return Path(name).stem, None


def parse_plan(name: str, text: str, title: str | None = None) -> ParsedPlan:
    """Split a plan into sections nested by numbering style, each with its section path."""
    lines = [line.strip().replace("\u3000", " ") for line in text.splitlines()]
    lines = [line for line in lines if line]
    guessed, at = _guess_title(lines, name)
    title = title or guessed
    if title == guessed and at is not None:
        del lines[at]
    sections: list[Section] = []
    stack: list[Section] = []
    for line in lines:
        found = marker_of(line)
        if found is None:
            _add_paragraph(sections, stack, line)
            continue
        style, match = found
        while stack and stack[-1].style != style and style in {s.style for s in stack}:
            stack.pop()
        if stack and stack[-1].style == style:
            stack.pop()
        while stack and stack[-1].style == "paragraph":
            stack.pop()
        heading = _item_title(line[match.end():])
        marker = line[: match.end()].strip()
        parent = stack[-1] if stack else None
        section = Section(
            ordinal=len(sections),
            level=LEVELS.get(style, "item"),
            style=style,
            heading=f"{marker}{heading}" if heading else marker,
            text=line,
            parent=parent.ordinal if parent else None,
            path=[*(parent.path if parent else []), f"{marker}{heading}" if heading else line[:30]],
        )
        if parent:
            parent.children.append(section.ordinal)
        sections.append(section)
        stack.append(section)
    for section in list(sections):
        _add_enumerations(sections, section)
    return ParsedPlan(name=name, title=title, text="\n".join(lines), sections=sections)


def _add_enumerations(sections: list[Section], item: Section) -> None:
    """An item's inline enumeration (一是…；二是…；三是…) becomes clauses below it, so an
    answer can cite 27.健全党员监督管理机制 › 二是…."""
    if item.level not in ("item", "paragraph"):
        return
    text = item.text.replace("\n", "")
    marks = list(ENUMERATION.finditer(text))
    if len(marks) < 2 or marks[0].group(1) != "一是" or marks[1].group(1) != "二是":
        return
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        clause = text[mark.start(1): following.start(1) if following else len(text)].strip()
        heading = re.split(r"[，,；;。]", clause, maxsplit=1)[0][:30]
        section = Section(
            ordinal=len(sections), level="clause", style="enumeration", heading=heading,
            text=clause, parent=item.ordinal, path=[*item.path, heading],
        )
        item.children.append(section.ordinal)
        sections.append(section)


def _add_paragraph(sections: list[Section], stack: list[Section], line: str) -> None:
    """Unnumbered text continues the open item, or stands as a paragraph of its part."""
    top = stack[-1] if stack else None
    if top is not None and top.style not in ("paragraph",) and not _is_heading_line(top.text):
        top.text = f"{top.text}\n{line}"
        return
    parent = top
    section = Section(
        ordinal=len(sections),
        level="paragraph",
        style="paragraph",
        heading="",
        text=line,
        parent=parent.ordinal if parent else None,
        path=list(parent.path) if parent else [],
    )
    if parent:
        parent.children.append(section.ordinal)
    sections.append(section)
