"""`dangjian chat`, the terminal adapter: typed lines become events for the same core, and what
the bot sends is printed — a secretary's notice, a member's tap, an upload, a question."""

from __future__ import annotations

import io
from pathlib import Path

from bot.chat import TerminalChat
from bot.config import Settings

SECRETARY, MEMBER = "7", "8"


async def test_a_meeting_a_tap_an_upload_and_a_question_in_the_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'chat.db'}", _env_file=None)
    session = TerminalChat(settings, first_user=int(SECRETARY), out=out)
    try:
        for line in (":group", ":admin", "/remind 现在 主题党日 地点：三楼会议室",
                     f":user {MEMBER} 李四", ":tap 1"):
            assert await session.feed(line)
        printed = out.getvalue()
        assert "📢 主题党日" in printed and "[1] 签到  [2] 请假" in printed
        assert "（提示）签到成功！" in printed
        assert "（消息已更新）" not in printed  # the edit waits for the live-count interval

        plan = tmp_path / "plan.txt"
        plan.write_text("2031年要点\n一、学习\n1.读书班。每季度举办一次读书班。\n", "utf-8")
        for line in (f":user {SECRETARY}", f":upload {plan}"):
            assert await session.feed(line)
        assert "已加入知识库" in out.getvalue()

        assert await session.feed(":private")
        assert await session.feed("读书班多久办一次")
        assert "每季度举办一次读书班" in out.getvalue()
        assert not await session.feed(":quit")
    finally:
        await session.services.db.close()


async def test_an_unknown_line_shows_the_banner_and_a_missing_file_is_named(
        tmp_path: Path) -> None:
    out = io.StringIO()
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'chat.db'}", _env_file=None)
    session = TerminalChat(settings, first_user=1, out=out)
    try:
        assert await session.feed(":what")
        assert ":tap N" in out.getvalue()
        assert await session.feed(":upload /nonexistent/x.docx")
        assert "找不到文件：/nonexistent/x.docx" in out.getvalue()
    finally:
        await session.services.db.close()
