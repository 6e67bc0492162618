"""/roster, importing a 名册 file, /iam by button and by name, and commands naming members,
through the real Application."""

from __future__ import annotations

from attendance_bot import AttendanceBot, answers, attendance_bot, texts
from attendance_world import BRANCH, SECRETARY
from sqlmodel import select

from bot.config import Settings
from storage.models import RosterEntry

CSV = "姓名,党小组,职务,手机\n张三,第一党小组,支部书记,13800138000\n李四,第一党小组,,\n王五,第二党小组,,\n"


async def upload(bot: AttendanceBot, name: str, content: bytes, caption: str, user_id: int,
                 chat_id: int = BRANCH) -> list:
    file_id = f"f{len(bot.api.files)}"
    bot.api.add_file(file_id, content)
    document = {"file_id": file_id, "file_unique_id": file_id, "file_name": name,
                "file_size": len(content)}
    return await bot.say(caption, user_id, chat_id, document=document)


async def test_import_by_caption_then_members_tap_their_names(settings: Settings) -> None:
    """The file with caption /roster is imported (not taken for a plan); the prompt's buttons
    link whoever taps; /roster shows the groups and who is linked, no phone numbers."""
    async with attendance_bot(settings) as bot:
        calls = await upload(bot, "名册.csv", CSV.encode(), "/roster", SECRETARY)
        summary, prompt_text = texts(calls)
        assert "名册已导入：共 3 人（新增 3，更新 0，移除 0）" in summary
        assert "知识库" not in summary
        prompt = next(c for c in calls if c.buttons)
        assert [label for label, _ in prompt.buttons] == ["张三", "李四", "王五"]
        assert "请各位党员点击自己的姓名" in prompt_text
        tapped = await bot.tap(prompt, "李四", user_id=3)
        assert answers(tapped) == ["✅ 已确认：您是名册中的“李四”。"]
        taken = await bot.tap(prompt, "李四", user_id=4)
        assert "已由其他账号绑定" in answers(taken)[0]
        [shown] = texts(await bot.say("/roster", 4, BRANCH))
        assert "共 3 人，已绑定账号 1 人" in shown
        assert "【第一党小组】2人" in shown and "✅ 李四" in shown and "○ 王五" in shown
        assert "13800138000" not in shown


async def test_a_bad_file_stores_nothing(settings: Settings) -> None:
    """A file without a 姓名 column is refused with the reason; a member's file is refused."""
    async with attendance_bot(settings) as bot:
        [refused] = texts(await upload(bot, "名册.csv", "序号,电话\n1,139\n".encode(), "/roster",
                                       SECRETARY))
        assert "没有找到“姓名”列" in refused
        [member] = texts(await upload(bot, "名册.csv", CSV.encode(), "/roster", 5))
        assert "仅限" in member
        with bot.services.db.session() as session:
            assert session.exec(select(RosterEntry)).all() == []


async def test_reply_import_iam_by_name_and_me_by_name(settings: Settings) -> None:
    """/roster 导入 as a reply to the file; /iam 张三 links the sender; the secretary's /me 张三
    is sent privately; an ambiguous or unknown name is answered with what to write."""
    async with attendance_bot(settings) as bot:
        file_message = (await upload(bot, "名册.csv", (CSV + "张三,第二党小组,,\n").encode(), "",
                                     SECRETARY))
        assert texts(file_message) == [
            "表格文件不能加入知识库；如果这是党员名册，请回复该文件发送 /roster 导入。"]
        payload = bot.updates.message("", user_id=SECRETARY, chat_id=BRANCH,
                                      document={"file_id": "f0", "file_unique_id": "f0",
                                                "file_name": "名册.csv", "file_size": 10})
        calls = await bot.say("/roster 导入", SECRETARY, BRANCH, reply_to=payload["message"])
        assert "共 4 人" in texts(calls)[0]
        [asked] = [c for c in await bot.say("/iam 张三", 6, BRANCH) if c.buttons]
        assert "2 位同名党员" in asked.text
        assert [label for label, _ in asked.buttons] == ["张三（第一党小组）", "张三（第二党小组）"]
        [linked] = texts(await bot.say("/iam 张三 第一党小组", 6, BRANCH))
        assert linked == "✅ 已确认：您是名册中的“张三”。"
        tapped = await bot.tap(asked, "张三（第二党小组）", user_id=8)
        assert answers(tapped) == ["✅ 已确认：您是名册中的“张三”。"]
        [by_secretary] = texts(await bot.say("/iam 王五 7", SECRETARY, BRANCH))
        assert "已把名册中的“王五”绑定到" in by_secretary
        calls = await bot.say("/me 王五", SECRETARY, BRANCH)
        assert texts(calls, chat_id=SECRETARY)[0].startswith("📋 王五")
        [unknown] = texts(await bot.say("/me 钱八", SECRETARY, BRANCH))
        assert "找不到成员“钱八”" in unknown
        [ambiguous] = [c for c in await bot.say("/me 张三", SECRETARY, BRANCH) if c.buttons]
        assert "有 2 位“张三”" in ambiguous.text
        labels = [label for label, _ in ambiguous.buttons]
        assert labels == ["张三（第一党小组）", "张三（第二党小组）"]  # both linked by now
        chosen = await bot.tap(ambiguous, labels[1], user_id=SECRETARY)
        assert texts(chosen, chat_id=SECRETARY)[0].startswith("📋 张三")
        assert texts(chosen, chat_id=BRANCH) == ["该成员的记录已私信发送给您。"]
        nosy = await bot.tap(ambiguous, labels[0], user_id=7)
        assert "只能查看自己的记录" in answers(nosy)[0]


async def test_a_secretary_imports_privately(settings: Settings) -> None:
    """The phone numbers need not be posted to the group: sent privately, the 名册 goes to the
    branch where Telegram says the sender is an admin; a member's private file is refused."""
    async with attendance_bot(settings) as bot:
        await bot.say("/roster", SECRETARY, BRANCH)  # the bot has met the group
        calls = await upload(bot, "名册.csv", CSV.encode(), "/roster", SECRETARY, SECRETARY)
        [summary] = texts(calls)
        assert "名册已导入：共 3 人" in summary and not any(c.buttons for c in calls)
        [shown] = texts(await bot.say("/roster", SECRETARY, SECRETARY))
        assert shown.startswith("📒 支部1001名册：共 3 人")
        await bot.say("大家好", 5, BRANCH)
        [refused] = texts(await upload(bot, "名册.csv", CSV.encode(), "/roster", 5, 5))
        assert "只有支部书记可以导入名册" in refused


async def test_a_full_roster_is_shown_in_whole_messages(settings: Settings) -> None:
    """2,000 names (the most a file may hold) come back whole, over several messages within
    Telegram's limit, none cut."""
    names = [f"党员{n:04d}" for n in range(2000)]
    content = "姓名,党小组\n" + "".join(f"{name},第{n // 100 + 1}党小组\n" for n, name in enumerate(names))
    async with attendance_bot(settings) as bot:
        await upload(bot, "名册.csv", content.encode(), "/roster", SECRETARY)
        shown = texts(await bot.say("/roster", SECRETARY, BRANCH))
    assert len(shown) > 1 and all(len(text) <= 4096 for text in shown)
    assert "…" not in "".join(shown)
    listed = [line.split()[1] for text in shown for line in text.splitlines()
              if line.startswith("○ ")]
    assert listed == names
