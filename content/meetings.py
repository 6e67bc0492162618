"""What kind of meeting a text names (one table for the names branches give their meetings),
and where a meeting is in its life.

A meeting notice (`/remind 明天下午3点 支部大会…`), a schedule and a duty of the calendar
(“支部委员会会议一般每月召开1次”) are read by the same table, so a held 支部大会 ticks the
duty “党员大会一般每季度召开1次”. Rows are tried in order, the first word found wins: longer and
more specific names come before the words they contain (支部委员会 before 支部, 党小组学习会
before 学习).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

OTHER = "其他"
THREE_MEETINGS = ("支部党员大会", "支委会", "党小组会", "党课", "主题党日")
"""The kinds that are 三会一课 (and 主题党日): a held one counts for its duty."""

KIND_NAMES: tuple[tuple[str, str], ...] = (
    ("主题党日", "主题党日"), ("党日活动", "主题党日"), ("固定党日", "主题党日"),
    ("支部党员大会", "支部党员大会"), ("全体党员大会", "支部党员大会"),
    ("全体党员会议", "支部党员大会"), ("党员大会", "支部党员大会"), ("支部大会", "支部党员大会"),
    ("支部委员会", "支委会"), ("支委会", "支委会"), ("支委扩大会", "支委会"),
    ("支委会议", "支委会"), ("支委委员会", "支委会"),
    ("党小组", "党小组会"),
    ("中心组", "中心组学习"),
    ("讲党课", "党课"), ("专题党课", "党课"), ("微党课", "党课"), ("党课", "党课"),
)


def meeting_kind(text: str) -> str:
    """The meeting kind a text names (三会一课, 主题党日, 中心组学习), else 其他."""
    for word, kind in KIND_NAMES:
        if word in text:
            return kind
    return OTHER


class Meeting(Protocol):
    """What the phase of a meeting (an `Activity`) depends on."""

    status: str
    checkin_opens_at: datetime
    starts_at: datetime
    ends_at: datetime


def phase(meeting: Meeting, now: datetime) -> str:
    """待召开 until check-in opens, 签到中 until the start, 进行中 until the end, then 已结束;
    a cancelled meeting is 已取消."""
    if meeting.status == "cancelled":
        return "已取消"
    if now < meeting.checkin_opens_at:
        return "待召开"
    if now < meeting.starts_at:
        return "签到中"
    return "进行中" if now < meeting.ends_at else "已结束"


def is_held(meeting: Meeting, now: datetime) -> bool:
    """Started and not cancelled: it counts in statistics, the ledger and the duties."""
    return meeting.status != "cancelled" and meeting.starts_at <= now
