"""Drive the real Application in-process: updates in, recorded Bot API calls out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select
from telegram import Update
from telegram.ext import Application

from bot.app import build_application, core_of, on_stop
from bot.offline import ApiCall, LocalBotApi, UpdateFactory
from bot.services import Services
from storage.models import BranchMembership, Chat


class BotHarness:
    """A started Application on a LocalBotApi, with helpers to send messages and tap buttons."""

    def __init__(self, services: Services, *, register_groups: bool = True) -> None:
        """`register_groups`: every group a test writes in is a registered branch (as a global
        admin's /bind makes it), so features are tested inside the organization boundary."""
        self.services = services
        self.register_groups = register_groups
        self.registered: set[int] = set()
        self.api = LocalBotApi()
        self.updates = UpdateFactory()
        self.app: Application = build_application(services, request=self.api, rate_limited=False)

    async def __aenter__(self) -> BotHarness:
        await self.app.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await on_stop(self.app)  # a test that started the scheduler leaves no task behind
        await self.app.shutdown()

    def make_admin(self, chat_id: int, user_id: int) -> None:
        self.api.admins.setdefault(chat_id, set()).add(user_id)
        core_of(self.app).forget_admins()

    async def send(self, text: str, *, user_id: int, chat_id: int | None = None,
                   **kwargs: Any) -> list[ApiCall]:
        """Process one message; returns the Bot API calls it caused."""
        return await self.process(self.updates.message(text, user_id=user_id, chat_id=chat_id,
                                                       **kwargs))

    async def tap(self, call: ApiCall, label: str, *, user_id: int) -> list[ApiCall]:
        """Tap the button with `label` on the message `call` sent."""
        data = dict(call.buttons)[label]
        return await self.process(self.updates.callback(data, user_id=user_id,
                                                        message=call.result))

    async def process(self, payload: dict[str, Any]) -> list[ApiCall]:
        update = payload.get("message") or payload.get("callback_query", {}).get("message") or {}
        chat_id = update.get("chat", {}).get("id", 0)
        if self.register_groups and chat_id not in self.registered:
            self.registered.add(chat_id)
            await self.services.db.run(lambda session: register_quietly(
                session, chat_id, self.services.clock()))
        before = len(self.api.calls)
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        return self.api.calls[before:]


HARNESS_BRANCH = -999_999
"""Where a user who first writes privately is seen: a registered branch with nothing in it."""


def register_quietly(session: Session, chat_id: int, at: datetime) -> None:
    """A group as a registered branch, without the audit entry a /bind leaves (tests of other
    features count audit entries); a private chat's user as seen in one, unless they already
    are in some branch."""
    if chat_id > 0:
        if not session.exec(select(BranchMembership).where(
                BranchMembership.user_id == chat_id)).first():
            register_quietly(session, HARNESS_BRANCH, at)
            session.add(BranchMembership(chat_id=HARNESS_BRANCH, user_id=chat_id, joined_at=at))
        return
    chat = session.get(Chat, chat_id) or Chat(id=chat_id, type="supergroup")
    chat.registered_at = at
    session.add(chat)
