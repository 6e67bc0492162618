"""Titles and names shown short (in a list, a chart label, a reply) without cutting a 《书名》,
a （说明） or a 「引语」 in half: the cut moves to just after the closing bracket, or, when that
is too far, to just before the opening one."""

from __future__ import annotations

PAIRS = {"《": "》", "（": "）", "(": ")", "「": "」", "『": "』", "【": "】", "〈": "〉",
         "[": "]", "“": "”", "‘": "’"}
MORE = "…"


def shorten(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters; otherwise its first part with `…`, cut
    outside any bracket. A bracket that closes within twice the limit is kept whole; else the
    cut is before it, unless that leaves nothing — then the bracket is cut and closed."""
    if len(text) <= limit:
        return text
    opened: list[tuple[int, str]] = []  # (position, the closer it waits for)
    for position, char in enumerate(text[:limit]):
        if opened and char == opened[-1][1]:
            opened.pop()
        elif char in PAIRS:
            opened.append((position, PAIRS[char]))
    if not opened:
        return text[:limit].rstrip() + MORE
    start = opened[0][0]
    end = _closing(text, start, 2 * limit)
    if end is not None:
        return text if end == len(text) else text[:end] + MORE
    if text[:start].strip():
        return text[:start].rstrip() + MORE
    return text[:limit] + MORE + "".join(closer for _, closer in reversed(opened))


def _closing(text: str, start: int, most: int) -> int | None:
    """Where the bracket opened at `start` has closed (the index after its closer), if within
    the first `most` characters."""
    waiting: list[str] = []
    for position in range(start, min(len(text), most)):
        char = text[position]
        if waiting and char == waiting[-1]:
            waiting.pop()
            if not waiting:
                return position + 1
        elif char in PAIRS:
            waiting.append(PAIRS[char])
    return None
