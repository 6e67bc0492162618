"""Titles shown short are never cut inside a bracket (《书名》, （说明）, 「引语」…)."""

from __future__ import annotations

import pytest

from bot.services.display import shorten

LONG = "学习《中国共产党支部工作条例（试行）》并交流心得体会"


@pytest.mark.parametrize(("text", "limit", "shown"), [
    ("主题党日：学习党章", 20, "主题党日：学习党章"),  # short enough: untouched
    ("主题党日：学习党章和党规党纪", 6, "主题党日：学…"),  # no bracket: a plain cut
    (LONG, 10, "学习《中国共产党支部工作条例（试行）》…"),  # closes within twice the limit
    (LONG, 20, "学习《中国共产党支部工作条例（试行）》并…"),
    ("学习《中国共产党支部工作条例（试行）》", 15, "学习《中国共产党支部工作条例（试行）》"),
    ("支部党员大会（第四季度）审议发展党员", 10, "支部党员大会（第四季度）…"),
    ("学习" + "很长" * 10 + "《党章》", 8, "学习很长很长很长…"),  # closes too far: cut before
    ("关于「" + "长" * 40 + "」的讨论", 10, "关于…"),
    ("《" + "长" * 40 + "》", 10, "《长长长长长长长长长…》"),  # nothing before it: cut and closed
    ("会议（未闭合的说明很长很长很长很长很长", 6, "会议…"),
    ("学习(English title) notes", 6, "学习…"),  # closes past twice the limit
])
def test_never_cut_inside_brackets(text: str, limit: int, shown: str) -> None:
    assert shorten(text, limit) == shown


def test_the_reported_case() -> None:
    """The /stats line that showed "学习《中国共产党支部工作条例（：张三" now closes both."""
    shown = shorten("学习《中国共产党支部工作条例（试行）》", 15) + "：张三"
    assert shown == "学习《中国共产党支部工作条例（试行）》：张三"
