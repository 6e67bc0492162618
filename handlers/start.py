"""/start and /help: what the bot does and how to use it."""

from __future__ import annotations

from bot.core import Command, Flow
from bot.services.organization import OPEN_MODE_WARNING
from handlers.common import escape

HELP_MEMBER = """<b>党建助手</b> 可以：
• /ask 问题 —— 查询年度《党建工作要点》（私聊中直接发问题即可；群里请回复我或 @我）
• /checkin [活动] —— 活动签到（或点活动通知上的【签到】）
• /leave [活动号] 原因 —— 请假（或点【请假】后回复原因）
• /study 内容或任务号 [心得] —— 学习登记
• /me —— 我本年的签到与学习记录
• /duties —— 本支部的工作职责，按截止时间排列（点按钮或 /duties 编号 看原文；/duties 全部 含党委、班子成员等其他职责）
• /roster —— 本支部名册；/iam 本人姓名 —— 把名册中的名字与本人账号绑定（或点 /iam 列出的姓名）
• /docs —— 知识库中我能查询的文件"""

HELP_SECRETARY = """
<b>支部书记</b>另可使用：
• /remind 时间 内容 —— 发布活动通知（带【签到】【请假】按钮），如 <code>/remind 明天下午3点 主题党日 地点：三楼会议室 主持人：张三</code>、<code>/remind 12月8日14:30-16:30 党课</code>（立即开始写“现在”）
  未写主持人时由发布人主持；通知中的主持人、记录人默认出席。会议开始后才计入统计和“三会一课”职责，之前显示为“待召开”
• /remind 补录 日期 时间 内容 原因：… —— 补录已召开的会议（不发通知），如 <code>/remind 补录 12月1日 15:00 支委会 主持人：王书记 原因：系统未上线</code>，再用 /proxy 登记出席
• /minutes 活动号 议题：… 决议：… 纪要：… —— 会后记录议题、决议和纪要（写入台账）；照片或文件回复活动通知发送，或在说明中写 <code>/minutes 活动号</code>
• 导入名册：把名册文件（.xlsx/.csv，表头：姓名、党小组、职务、手机，2MB、2000人以内）发到群里或私聊，附言写 <code>/roster</code>（或回复该文件发送 <code>/roster 导入</code>）；导入后应到人数按名册计算；<code>/iam 张三 @用户名</code> —— 替成员绑定账号
• 凡需指明成员处，可写姓名、@用户名、用户id，或回复其消息；重名时会列出供选择
• /proxy 活动号 成员 [签到|请假|缺席] 原因 —— 补签/代签（记入更正记录），如 <code>/proxy 4 张三 请假 出差</code>
• /activities —— 本支部活动列表（待召开/进行中/已结束）；/activities 取消 活动号 —— 取消活动
• /me 成员 —— 查看本支部成员的记录（私信发送），如 <code>/me 张三</code>
• /grant 成员 —— 授予本支部书记权限
• /schedule 时间规则 内容 —— 定时提醒，如 <code>每月最后一个周五 15:00 主题党日</code>、<code>每周一 08:30 学习党章</code>、<code>每两周周五 15:00 …</code>、<code>每月最后一个工作日 16:00 …</code>、<code>每月15日 09:00 交党费（遇节假日顺延）</code>（会议类附【签到】【请假】，学习类附【已学习】）
• /reminders —— 本群提醒列表（私聊时列出您负责的各支部）；/cancel 编号 —— 取消提醒（私聊时可加支部名称）
• /task 学习内容 [截止日期] —— 发布学习任务，如 <code>/task 学习党章 12月31日前</code>
• /stats [本月|本季度|本年] —— 统计与图表；/export —— 导出台账（私聊发送）
• /done 职责编号 —— 标记工作职责已完成（私聊亦可，多个支部时选择支部）；/duty 职责编号 停用｜启用｜每季度2次｜恢复 —— 调整本支部的工作职责
• 直接发送文件（txt/md/docx/pdf，10MB 以内）—— 加入本支部知识库（私聊发送时，如是多个支部的书记会请您选择支部）；/docs 删除 编号 —— 删除本支部的文件"""


HELP_ADMIN = """
<b>组织管理员</b>另可使用：
• /bind 支部名称 —— 在群内发送，登记本群为党支部（或由组织管理员把我拉进群）
• /unbind —— 注销本群的党支部登记；/branches —— 私聊查看已登记的党支部"""


async def start(flow: Flow) -> None:
    """Greet the user and show what they can do; group admins learn when the bot runs in open
    mode (no organization administrators configured)."""
    actor = await flow.actor()
    warning = ""
    if flow.services.settings.open_mode and actor.is_chat_admin:
        warning = f"\n\n⚠️ {escape(OPEN_MODE_WARNING)}"
    await flow.reply("您好！我是党建助手。\n\n" + _help(flow, actor.is_global_admin) + warning)


async def help_command(flow: Flow) -> None:
    """List the commands, and which year's plan the duties follow when it is not this year's."""
    actor = await flow.actor()
    await flow.reply(_help(flow, actor.is_global_admin))


ROLES_STORED = """
<b>在本平台</b>：平台不向机器人提供群成员和群管理员名单，党支部由组织管理员在群内发送 /bind 支部名称 登记，\
支部书记由组织管理员或支部书记用 /grant 成员 授予；群里请 @我 后再发命令或提问。"""


def _help(flow: Flow, global_admin: bool) -> str:
    services = flow.services
    note = services.duties.plan_note(services.duties.today(services.clock()))
    capabilities = flow.channel.capabilities
    roles = "" if capabilities.admin_list and capabilities.join_events else ROLES_STORED
    return (HELP_MEMBER + HELP_SECRETARY + (HELP_ADMIN if global_admin else "") + roles
            + (f"\n\n⚠️ {escape(note)}" if note else ""))


ROUTES = {0: [Command("start", start), Command("help", help_command)]}
