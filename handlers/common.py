"""What every handler needs: who is acting, replying safely, and the one error handler."""

from __future__ import annotations

import html
import logging
import time
from dataclasses import replace

from sqlalchemy.exc import OperationalError
from telegram import Update
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import TelegramError, TimedOut

from bot.context import BotContext
from bot.services import UserError
from bot.services.people import Actor, remember, secretary_candidates

log = logging.getLogger(__name__)

ADMIN_CACHE_SECONDS = 300
MAX_MESSAGE = 4096
ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


async def actor_of(update: Update, context: BotContext) -> Actor:
    """The acting user in this chat; group admin status comes from Telegram, cached briefly."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    is_admin = False
    if chat.type in ("group", "supergroup"):
        is_admin = await _is_chat_admin(context, chat.id, user.id)
    actor = Actor(
        user_id=user.id,
        name=user.full_name or str(user.id),
        username=user.username,
        chat_id=chat.id,
        chat_type=chat.type,
        chat_title=chat.title or "",
        is_chat_admin=is_admin,
        is_global_admin=user.id in context.services.settings.admins,
    )
    await _remember_once(context, actor)
    return actor


async def _remember_once(context: BotContext, actor: Actor) -> None:
    """Store the member and chat when first seen or renamed (not on every update: it was 40% of
    a tap's work), and never let this bookkeeping fail a request while the database is down."""
    seen: dict[tuple[int, int], tuple[str, str | None, str]] = context.bot_data.setdefault(
        "remembered", {}
    )
    key, names = (actor.user_id, actor.chat_id), (actor.name, actor.username, actor.chat_title)
    if seen.get(key) == names:
        return
    try:
        await context.services.db.run(lambda session: remember(session, actor))
    except OperationalError:
        log.warning("could not store member %s of chat %s now", actor.user_id, actor.chat_id)
        return
    seen[key] = names


async def _is_chat_admin(context: BotContext, chat_id: int, user_id: int) -> bool:
    cache: dict[tuple[int, int], tuple[float, bool]] = context.bot_data.setdefault(
        "admin_cache", {}
    )
    hit = cache.get((chat_id, user_id))
    if hit and time.monotonic() - hit[0] < ADMIN_CACHE_SECONDS:
        return hit[1]
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
        is_admin = member.status in ADMIN_STATUSES
    except TelegramError:
        log.warning("getChatMember failed for chat %s", chat_id, exc_info=True)
        is_admin = False
    cache[(chat_id, user_id)] = (time.monotonic(), is_admin)
    return is_admin


async def secretary_chats(context: BotContext, actor: Actor) -> list[int]:
    """The branches a secretary runs, for what they do in a private chat: granted ones, and
    the branches they belong to where Telegram says they are an admin (every registered branch
    chat for a global admin)."""
    granted, others = await context.services.db.run(
        lambda session: secretary_candidates(session, actor))
    admin_of = [chat_id for chat_id in others if chat_id not in granted
                and await _is_chat_admin(context, chat_id, actor.user_id)]
    return sorted({*granted, *admin_of})


def as_secretary_of(actor: Actor, chat_id: int) -> Actor:
    """The actor acting for a branch `secretary_chats` found they run (from a private chat)."""
    return replace(actor, chat_id=chat_id, chat_type="supergroup", is_chat_admin=True)


def messages(blocks: list[str], separator: str = "\n\n") -> list[str]:
    """Blocks joined into as few messages as Telegram's length limit allows, each kept whole."""
    found, current = [], ""
    for block in blocks:
        if current and len(current) + len(separator) + len(block) > MAX_MESSAGE - 100:
            found.append(current)
            current = block
        else:
            current = f"{current}{separator}{block}" if current else block
    found.append(current)
    return found


def escape(text: str) -> str:
    return html.escape(text, quote=False)


async def reply(update: Update, text: str, **kwargs: object) -> None:
    """Reply in HTML, threaded under the user's message in groups, cut to Telegram's limit."""
    message = update.effective_message
    if message is None:
        return
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    chat = update.effective_chat
    in_group = chat is not None and chat.type in ("group", "supergroup")
    await message.reply_text(
        text, parse_mode=ParseMode.HTML, do_quote=in_group, **kwargs  # type: ignore[arg-type]
    )


async def reply_error(update: Update, error: UserError) -> None:
    """A user's mistake: its one-line reason, HTML-safe."""
    if update.callback_query is not None:
        await update.callback_query.answer(str(error)[:200], show_alert=True)
        return
    await reply(update, escape(str(error)))


async def on_error(update: object, context: BotContext) -> None:
    """Log every unexpected failure and tell the user politely instead of going silent."""
    error = context.error
    if isinstance(update, Update) and isinstance(error, UserError):
        await reply_error(update, error)
        return
    if isinstance(error, TimedOut):
        # the request may well have reached Telegram: a second answer would be a duplicate
        log.warning("Bot API request timed out: %r", error)
        return
    log.error("update failed: %r", error, exc_info=error)
    if not isinstance(update, Update):
        return
    if isinstance(error, OperationalError):
        text = "系统暂时繁忙（数据库不可用），请稍后重试。"
    else:
        text = "抱歉，处理您的请求时出错了，请稍后重试；如多次失败请联系支部书记。"
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text[:200], show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(text)
    except TelegramError:
        log.warning("could not report the failure to the user", exc_info=True)
