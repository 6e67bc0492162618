"""What people type, made safe before it reaches the database: numbers (活动号, 任务号, 用户id)
kept within what the columns hold, and free text without control characters (PostgreSQL
refuses NUL, Excel files refuse the rest)."""

from __future__ import annotations

import re

MAX_RECORD_ID = 2**31 - 1
"""Activities and study tasks have INTEGER keys (32-bit on PostgreSQL)."""
MAX_USER_ID = 2**63 - 1
"""Telegram ids fit in 64 bits."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def number(text: str) -> int | None:
    """`12`, `#12` or `＃１２` → 12; anything else → None."""
    digits = text.strip().lstrip("#＃")
    return int(digits) if digits.isdecimal() else None


def clean(text: str) -> str:
    """Free text without control characters, runs of white space made one space."""
    return " ".join(_CONTROL.sub("", text).split())
