"""Plan ingestion: numbering styles nest into sections, every format reads, bad files say why."""

from __future__ import annotations

import io

import pytest

from content.ingest import UnreadableDocument, parse_plan, read_document_bytes

PLAN = """2026年党建工作要点
2026年是关键之年，各级党组织要担当使命。
一、加强政治建设
1.坚持党的领导。落实“三重一大”决策制度。
2.落实意识形态工作责任制。每半年向公司党委汇报一次意识形态工作。
二、加强组织建设
（一）规范支部建设
1、严格三会一课。支委会每月召开一次。
(1)党小组会每月一次。
（二）发展党员
1、做好发展党员工作。一是严格程序；二是加强培养。
"""


def test_parts_subsections_and_items_nest_in_the_plans_own_order():
    """Each numbering style becomes a level, in the order the author used them."""
    plan = parse_plan("plan.txt", PLAN)
    assert plan.title == "2026年党建工作要点"
    by_heading = {s.heading: s for s in plan.sections}
    item = by_heading["1.坚持党的领导"]
    assert item.level == "item"
    assert item.path_text == "一、加强政治建设 › 1.坚持党的领导"
    nested = by_heading["(1)党小组会每月一次"]
    assert nested.path == ["二、加强组织建设", "（一）规范支部建设", "1、严格三会一课",
                           "(1)党小组会每月一次"]
    second_sub = by_heading["（二）发展党员"]
    assert second_sub.level == "subsection"
    assert plan.sections[second_sub.parent].heading == "二、加强组织建设"
    assert by_heading["1、做好发展党员工作"].parent == second_sub.ordinal


def test_preamble_is_a_paragraph_and_continuation_lines_join_their_item():
    """Unnumbered text before any part stands alone; after an item it continues the item."""
    plan = parse_plan("plan.txt", PLAN + "此项工作由组织部牵头。\n")
    preamble = plan.sections[0]
    assert preamble.level == "paragraph" and preamble.path == []
    last_item = plan.sections[-1]
    assert last_item.text.endswith("此项工作由组织部牵头。")


def test_title_falls_back_to_the_file_name_when_the_first_line_is_a_sentence():
    plan = parse_plan("2022年要点.txt", "2022年是关键之年，要推动发展。\n一、加强建设\n")
    assert plan.title == "2022年要点"
    assert plan.sections[0].level == "paragraph"


def test_gb18030_text_and_markdown_are_read():
    assert "党建" in read_document_bytes("a.txt", "一、党建工作".encode("gb18030"))
    text = read_document_bytes("a.md", "# 2026年要点\n## 一、**加强**建设\n- 1.落实责任。".encode())
    assert text.splitlines() == ["2026年要点", "一、加强建设", "1.落实责任。"]


def test_docx_paragraphs_are_read_in_order():
    docx = pytest.importorskip("docx")
    document = docx.Document()
    for line in PLAN.splitlines():
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    plan = parse_plan("plan.docx", read_document_bytes("plan.docx", buffer.getvalue()))
    assert [s.heading for s in plan.sections if s.level == "part"] == [
        "一、加强政治建设", "二、加强组织建设"]


def test_pdf_lines_wrapped_at_the_page_width_are_rejoined():
    """A PDF breaks sentences across lines; paragraphs come back whole."""
    canvas_module = pytest.importorskip("reportlab.pdfgen.canvas")
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    canvas = canvas_module.Canvas(buffer)
    canvas.setFont("STSong-Light", 12)
    for n, line in enumerate(["2026年党建工作要点", "一、加强政治建设", "1.严格组织生活。支委会每月",
                              "召开一次，党课每季度一次。", "2.落实责任。"]):
        canvas.drawString(50, 800 - 20 * n, line)
    canvas.save()
    plan = parse_plan("plan.pdf", read_document_bytes("plan.pdf", buffer.getvalue()))
    item = next(s for s in plan.sections if s.heading == "1.严格组织生活")
    assert item.text == "1.严格组织生活。支委会每月召开一次，党课每季度一次。"
    assert plan.sections[-1].heading == "2.落实责任"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("plan.xls", b"whatever", "不支持的文件类型"),
        ("plan.docx", b"not a zip file", "无法解析"),
        ("plan.pdf", b"%PDF-1.4 broken", "无法解析"),
        ("plan.txt", b"   \n", "没有可读取的文字"),
        ("plan.txt", b"\xff\xfe\xfa\xfb\x00\x81", "编码"),
    ],
)
def test_unreadable_files_raise_a_chinese_reason(name: str, data: bytes, reason: str):
    with pytest.raises(UnreadableDocument, match=reason):
        read_document_bytes(name, data)


def test_inline_enumerations_become_clauses_of_their_item():
    """一是…；二是… inside an item are clauses below it, with their own section path."""
    plan = parse_plan("plan.txt", PLAN)
    clauses = [s for s in plan.sections if s.level == "clause"]
    assert [c.text for c in clauses] == ["一是严格程序；", "二是加强培养。"]
    item = plan.sections[clauses[0].parent]
    assert item.heading == "1、做好发展党员工作"
    assert clauses[1].path_text.endswith("1、做好发展党员工作 › 二是加强培养")
