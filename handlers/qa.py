"""Questions about the plan: /ask, private text, @mentions and replies in groups, 更多."""

from __future__ import annotations

import re

from sqlalchemy.exc import OperationalError

from bot.channels.base import Event
from bot.core import Command, Flow, OnMessage, Tap, escape, is_text
from bot.services.knowledge import visible_documents
from bot.services.people import Actor
from bot.services.qa import ASK_IN_CHINESE, LOW_CONFIDENCE_TEXT, QAResult, in_english

MORE_PATTERN = r"^qa:more:(\d+)$"
USAGE = "用法：/ask 问题，例如 /ask 宣传主题多久定一次？"


async def ask(flow: Flow) -> None:
    """Handle /ask 问题."""
    actor = await flow.actor()
    question = " ".join(flow.args)
    if not question.strip():
        await flow.reply(escape(USAGE))
        return
    await _answer(flow, actor, question)


async def on_private_text(flow: Flow) -> None:
    """Any plain text in a private chat is a question."""
    await _answer(flow, await flow.actor(), flow.text)


async def on_group_text(flow: Flow) -> None:
    """In a group, answer only a reply to the bot or an @mention of it."""
    replied = flow.event.reply_to
    if not (flow.event.mentioned or (replied is not None and replied.by_bot)):
        return
    await _answer(flow, await flow.actor(), _without_mention(flow.text, flow.bot_username))


async def on_more(flow: Flow) -> None:
    """更多: the next answer to the question this message replied to."""
    assert flow.match is not None
    offset = int(flow.match.group(1))
    shown = flow.event.reply_to
    question = _question_text(shown.reply_to_text if shown else "", flow.bot_username)
    if shown is None or not question:
        await flow.answer("原问题已不可见，请重新提问。", alert=True)
        return
    result = await scoped_ask(flow, await flow.actor(), question, offset + 1)
    await flow.answer()
    if offset >= len(result.answers):
        await flow.clear_buttons()
        await flow.reply("没有更多相关内容了。", quote=True)
        return
    await flow.edit(render_answer(result, offset), _more_button(result, offset))


def _without_mention(text: str, username: str) -> str:
    if not username:
        return text
    return re.sub(rf"@{re.escape(username)}", " ", text, flags=re.IGNORECASE)


def _question_text(text: str, username: str) -> str:
    return _without_mention(re.sub(r"^/ask(@\w+)?", "", text.strip()), username).strip()


async def scoped_ask(flow: Flow, actor: Actor, question: str, k: int) -> QAResult:
    """Answers from the documents this user may see: the organization's and their branch's."""
    services = flow.services
    try:
        documents = await services.db.run(lambda session: visible_documents(
            session, actor, services.settings.open_mode))
    except OperationalError:  # the index is in memory: answer from the organization's
        documents = list(services.qa.organization_documents)
    return services.qa.ask(question, k=k, documents=documents)


async def _answer(flow: Flow, actor: Actor, question: str) -> None:
    if in_english(question):
        await flow.reply(escape(ASK_IN_CHINESE))
        return
    result = await scoped_ask(flow, actor, question, 3)
    await flow.reply(render_answer(result, 0), _more_button(result, 0), quote=True)


def _more_button(result: QAResult, shown: int) -> list[list[tuple[str, str]]]:
    if result.abstained or shown + 1 >= len(result.answers):
        return []
    return [[("更多", f"qa:more:{shown + 1}")]]


def render_answer(result: QAResult, position: int) -> str:
    """The passage with its answering sentence in bold and its citation, in our markup.
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


def _private_text(event: Event) -> bool:
    return is_text(event) and event.chat.kind == "private"


def _group_text(event: Event) -> bool:
    return is_text(event) and event.chat.kind == "group"


ROUTES = {0: [
    Command("ask", ask),
    Tap(MORE_PATTERN, on_more),
    OnMessage(_private_text, on_private_text),
    OnMessage(_group_text, on_group_text),
]}
