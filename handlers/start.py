"""/start and /help: what the bot does and how to use it."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.context import BotContext
from handlers.common import actor_of, reply

HELP_MEMBER = """<b>党建助手</b> 可以：
• /ask 问题 —— 查询年度《党建工作要点》（私聊中直接发问题即可；群里请回复我或 @我）
• /checkin [活动] —— 活动签到（或点活动通知上的【签到】）
• /leave [活动号] 原因 —— 请假（或点【请假】后回复原因）
• /study 内容或任务号 [心得] —— 学习登记
• /me —— 我本年的签到与学习记录
• /duties [全部] —— 近期工作安排（附工作要点原文）"""

HELP_SECRETARY = """
<b>支部书记</b>另可使用：
• /remind 时间 内容 —— 发布活动通知（带【签到】【请假】按钮），如 <code>/remind 明天下午3点 主题党日 地点：三楼会议室 主持人：张三</code>、<code>/remind 12月8日14:30-16:30 党课</code>（立即开始写“现在”）
• /proxy 活动号 @成员 [签到|请假|缺席] 原因 —— 补签/代签（记入更正记录）
• /activities —— 本支部活动列表；/activities 取消 活动号 —— 取消活动
• /me @成员 —— 查看本支部成员的记录（私信发送）
• /grant @成员 —— 授予本支部书记权限
• /schedule 时间规则 内容 —— 定时提醒，如 <code>每月最后一个周五 15:00 主题党日</code>、<code>每周一 08:30 学习党章</code>、<code>每两周周五 15:00 …</code>、<code>每月最后一个工作日 16:00 …</code>、<code>每月15日 09:00 交党费（遇节假日顺延）</code>（会议类附【签到】【请假】，学习类附【已学习】）
• /reminders —— 本群提醒列表；/cancel 编号 —— 取消提醒（私聊时可加支部名称）
• /task 学习内容 [截止日期] —— 发布学习任务，如 <code>/task 学习党章 12月31日前</code>
• /stats [本月|本季度|本年] —— 统计与图表；/export —— 导出台账（私聊发送）
• /done 职责编号 —— 标记工作职责已完成；/duty 职责编号 停用｜启用｜每季度2次｜恢复 —— 调整本支部的工作职责
• 直接发送文件（txt/md/docx/pdf）—— 加入知识库"""


async def start(update: Update, context: BotContext) -> None:
    """Greet the user and show what they can do."""
    await actor_of(update, context)
    await reply(update, "您好！我是党建助手。\n\n" + HELP_MEMBER + HELP_SECRETARY)


async def help_command(update: Update, context: BotContext) -> None:
    """List the commands."""
    await reply(update, HELP_MEMBER + HELP_SECRETARY)


HANDLERS = [CommandHandler("start", start), CommandHandler("help", help_command)]
