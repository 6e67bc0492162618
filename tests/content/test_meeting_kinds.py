"""The one table of meeting names: what branches call their meetings maps to the kind."""

from __future__ import annotations

import pytest

from content.meetings import meeting_kind


@pytest.mark.parametrize(("text", "kind"), [
    ("12月6日支部大会", "支部党员大会"), ("党员大会 选举", "支部党员大会"),
    ("全体党员会议", "支部党员大会"), ("支部党员大会", "支部党员大会"),
    ("支委会议 研究发展党员", "支委会"), ("支部委员会会议", "支委会"), ("支委扩大会", "支委会"),
    ("第一党小组学习会", "党小组会"), ("党小组会", "党小组会"),
    ("书记讲党课", "党课"), ("专题党课：廉洁自律", "党课"),
    ("主题党日：学习二十大报告", "主题党日"), ("党日活动 参观红色基地", "主题党日"),
    ("中心组学习", "中心组学习"), ("学习党章", "其他"), ("组织生活会", "其他"),
])
def test_common_names_map_to_their_kind(text: str, kind: str) -> None:
    """支部大会, 支委会议, 党小组学习会, 讲党课 and the like are filed as their kind, not 其他."""
    assert meeting_kind(text) == kind
