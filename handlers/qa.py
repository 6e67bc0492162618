"""Questions about the plan: /ask, private text, @mentions and replies in groups, 更多."""

from __future__ import annotations

import re

from sqlalchemy.exc import OperationalError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from bot.services.knowledge import visible_documents
from bot.services.people import Actor
from bot.services.qa import ASK_IN_CHINESE, LOW_CONFIDENCE_TEXT, QAResult, in_english
from handlers.common import actor_of, escape, reply

MORE_PATTERN = r"^qa:more:(\d+)$"
USAGE = "用法：/ask 问题，例如 /ask 宣传主题多久定一次？"


async def ask(update: Update, context: BotContext) -> None:
    """Handle /ask 问题."""
    actor = await actor_of(update, context)
    question = " ".join(context.args or [])
    if not question.strip():
        await reply(update, escape(USAGE))
        return
    await _answer(update, context, actor, question)


async def on_private_text(update: Update, context: BotContext) -> None:
    """Any plain text in a private chat is a question."""
    actor = await actor_of(update, context)
    await _answer(update, context, actor, _message(update).text or "")


async def on_group_text(update: Update, context: BotContext) -> None:
    """In a group, answer only a reply to the bot or an @mention of it."""
    message = _message(update)
    text = message.text or ""
    username = context.bot.username or ""
    mentioned = bool(username) and f"@{username}".lower() in text.lower()
    replied = (
        message.reply_to_message is not None
        and message.reply_to_message.from_user is not None
        and message.reply_to_message.from_user.id == context.bot.id
    )
    if not (mentioned or replied):
        return
    actor = await actor_of(update, context)
    question = re.sub(rf"@{re.escape(username)}", " ", text, flags=re.IGNORECASE) if username else text
    await _answer(update, context, actor, question)


async def on_more(update: Update, context: BotContext) -> None:
    """更多: the next answer to the question this message replied to."""
    query = update.callback_query
    assert query is not None and context.match is not None
    offset = int(context.match.group(1))
    shown = query.message if isinstance(query.message, Message) else None
    asked = shown.reply_to_message if shown else None
    question = _question_text(asked.text if asked and asked.text else "", context)
    if shown is None or not question:
        await query.answer("原问题已不可见，请重新提问。", show_alert=True)
        return
    result = await scoped_ask(context, await actor_of(update, context), question, offset + 1)
    await query.answer()
    if offset >= len(result.answers):
        await query.edit_message_reply_markup(reply_markup=None)
        await shown.reply_text("没有更多相关内容了。")
        return
    await query.edit_message_text(
        render_answer(result, offset), parse_mode=ParseMode.HTML,
        reply_markup=_more_button(result, offset),
    )


def _question_text(text: str, context: BotContext) -> str:
    text = re.sub(r"^/ask(@\w+)?", "", text.strip())
    if context.bot.username:
        text = re.sub(rf"@{re.escape(context.bot.username)}", " ", text, flags=re.IGNORECASE)
    return text.strip()


async def scoped_ask(context: BotContext, actor: Actor, question: str, k: int) -> QAResult:
    """Answers from the documents this user may see: the organization's and their branch's."""
    services = context.services
    try:
        documents = await services.db.run(lambda session: visible_documents(
            session, actor, services.settings.open_mode))
    except OperationalError:  # the index is in memory: answer from the organization's
        documents = list(services.qa.organization_documents)
    return services.qa.ask(question, k=k, documents=documents)


async def _answer(update: Update, context: BotContext, actor: Actor, question: str) -> None:
    if in_english(question):
        await reply(update, escape(ASK_IN_CHINESE))
        return
    result = await scoped_ask(context, actor, question, 3)
    await _message(update).reply_text(
        render_answer(result, 0), parse_mode=ParseMode.HTML, do_quote=True,
        reply_markup=_more_button(result, 0),
    )


def _message(update: Update) -> Message:
    """The message a text or command handler was called for (its filters guarantee one)."""
    assert update.effective_message is not None
    return update.effective_message


def _more_button(result: QAResult, shown: int) -> InlineKeyboardMarkup | None:
    if result.abstained or shown + 1 >= len(result.answers):
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("更多", callback_data=f"qa:more:{shown + 1}")]]
    )


def render_answer(result: QAResult, position: int) -> str:
    """The passage with its answering sentence in bold and its citation; Telegram-safe HTML.
    A `low` answer is shown under a line saying the plan does not say it directly; `none`
    says so and suggests the branch secretary."""
    if result.abstained or not result.answers:
        return (
            "抱歉，工作要点中没有找到与这个问题直接相关的内容。"
            "建议换个说法再问，或向支部书记咨询。"
        )
    answer = result.answers[position]
    body = escape(answer.text)
    if answer.highlight and answer.highlight in answer.text:
        start = answer.text.index(answer.highlight)
        body = (
            escape(answer.text[:start]) + "<b>" + escape(answer.highlight) + "</b>"
            + escape(answer.text[start + len(answer.highlight):])
        )
    header = f"📖 出处：{escape(answer.source)}"
    if position:
        header = f"（第{position + 1}条相关内容）\n" + header
    elif result.confidence == "low":
        header = f"{escape(LOW_CONFIDENCE_TEXT)}\n" + header
    return f"{header}\n\n{body}"


HANDLERS = [
    CommandHandler("ask", ask),
    CallbackQueryHandler(on_more, pattern=MORE_PATTERN),
    MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, on_private_text),
    MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.GROUPS, on_group_text),
]
