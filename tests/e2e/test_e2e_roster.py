"""The 名册 through the real process over HTTP: a secretary imports an .xlsx, a member says who
they are with /iam, the secretary looks them up with /me 张三 and 代签s an unlinked name, and
/stats counts 应到 from the 名册."""

from __future__ import annotations

import io

from botproc import BotProcess
from fake_bot_api import FakeBotApi, exchange
from openpyxl import Workbook

GROUP = -100900
SECRETARY, ZHANG, LI = 901, 902, 903
GROUP_ADMINS = {GROUP: SECRETARY}


def roster_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    for row in (["第九党支部党员名册"], ["姓名", "党小组", "职务", "手机"],
                ["张三", "第一党小组", "组织委员", "13800138000"], ["李四", "第一党小组", "", ""],
                ["王五", "第二党小组", "", ""]):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_import_iam_and_me_by_name(api: FakeBotApi, bot: BotProcess) -> None:
    api.send("/start", user_id=SECRETARY)
    mark = api.mark()
    api.upload("第九支部名册.xlsx", roster_xlsx(), user_id=SECRETARY, chat_id=GROUP,
               caption="/roster")
    summary = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP
                           and "名册已导入" in c.text, since=mark)
    assert "共 3 人（新增 3，更新 0，移除 0）" in summary.text
    prompt = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP
                          and bool(c.buttons), since=mark)
    assert [label for label, _ in prompt.buttons] == ["张三", "李四", "王五"]

    linked = exchange(api, "/iam 张三", user_id=ZHANG, chat_id=GROUP)
    assert linked.text == "✅ 已确认：您是名册中的“张三”。"
    assert bot.query("SELECT name, user_id FROM rosterentry ORDER BY ordinal") == [
        ("张三", ZHANG), ("李四", None), ("王五", None)]

    mark = api.mark()
    api.send("/me 张三", user_id=SECRETARY, chat_id=GROUP)
    record = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == SECRETARY,
                          since=mark)
    assert record.text.startswith("📋 张三")
    api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP
                 and "私信" in c.text, since=mark)

    post = exchange(api, "/remind 现在 党小组会 学习党章", user_id=SECRETARY, chat_id=GROUP)
    activity = post.text.split("活动号：#")[1].split("（")[0]
    proxied = exchange(api, f"/proxy {activity} 李四 请假 出差", user_id=SECRETARY, chat_id=GROUP)
    assert "已为 李四 补登" in proxied.text and "请假" in proxied.text
    stats = exchange(api, "/stats", user_id=SECRETARY, chat_id=GROUP)
    assert "应到依据：名册" in stats.text
    # the 名册's three, and the secretary who posted: not on it, but present as the host
    assert "应到 4，实到 1，请假 1，缺席 2" in stats.text
