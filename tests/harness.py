"""Drive the real Application in-process: updates in, recorded Bot API calls out."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.app import build_application, on_stop
from bot.offline import ApiCall, LocalBotApi, UpdateFactory
from bot.services import Services


class BotHarness:
    """A started Application on a LocalBotApi, with helpers to send messages and tap buttons."""

    def __init__(self, services: Services) -> None:
        self.services = services
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
        self.app.bot_data.pop("admin_cache", None)

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
        before = len(self.api.calls)
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        return self.api.calls[before:]
