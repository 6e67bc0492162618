"""Study: /task posts a task with [已学习]; the button and /study record it."""

from __future__ import annotations

from bot.core import Command, Flow, Tap
from bot.services import study
from handlers.posts import publish_new, tell
from storage.models import StudyTask

DONE_PATTERN = r"^study:done:(\d+)$"


async def task(flow: Flow) -> None:
    """/task 学习内容 [截止日期]: a secretary posts a study task to the group."""
    await publish_new(flow, StudyTask, study.post_task)


async def on_done(flow: Flow) -> None:
    """[已学习]."""
    task_id = flow.button_id()
    actor = await flow.actor()
    now = flow.services.clock()
    outcome = await flow.services.db.run(lambda session: study.complete_task(
        session, actor, task_id, at=now, now=now))
    await tell(flow, StudyTask, outcome)


async def study_command(flow: Flow) -> None:
    """/study 任务号或内容 [心得]."""
    actor = await flow.actor()
    source = await flow.message_number()
    outcome = await flow.services.db.run(lambda session: study.study(
        session, actor, " ".join(flow.args), at=flow.event.at, now=flow.services.clock(),
        source_message_id=source))
    await tell(flow, StudyTask, outcome)


ROUTES = {0: [
    Command("task", task),
    Command("study", study_command),
    Tap(DONE_PATTERN, on_done),
]}
