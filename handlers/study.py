"""Study: /task posts a task with [已学习]; the button and /study record it."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.context import BotContext
from bot.services import study
from handlers.common import actor_of
from handlers.posts import button_id, publish_new, tell
from storage.models import StudyTask

DONE_PATTERN = r"^study:done:(\d+)$"


async def task(update: Update, context: BotContext) -> None:
    """/task 学习内容 [截止日期]: a secretary posts a study task to the group."""
    await publish_new(update, context, StudyTask, study.post_task)


async def on_done(update: Update, context: BotContext) -> None:
    """[已学习]."""
    task_id = button_id(update, DONE_PATTERN)
    actor = await actor_of(update, context)
    now = context.services.clock()
    outcome = await context.services.db.run(lambda session: study.complete_task(
        session, actor, task_id, at=now, now=now))
    await tell(update, context.application, StudyTask, outcome)


async def study_command(update: Update, context: BotContext) -> None:
    """/study 任务号或内容 [心得]."""
    actor = await actor_of(update, context)
    message = update.effective_message
    outcome = await context.services.db.run(lambda session: study.study(
        session, actor, " ".join(context.args or []),
        at=message.date, now=context.services.clock(),  # type: ignore[union-attr]
        source_message_id=message.message_id))  # type: ignore[union-attr]
    await tell(update, context.application, StudyTask, outcome)


HANDLERS = [
    CommandHandler("task", task),
    CommandHandler("study", study_command),
    CallbackQueryHandler(on_done, pattern=DONE_PATTERN),
]
