"""Delivery guarantees of the real `dangjian run` process against the fake Bot API.

Webhook mode: an update Telegram was answered 200 for survives a SIGKILL before it was handled
(the restarted process handles it, once), and a repeat is dropped by the database's key across
a restart and across replicas; a replica's unhandled updates pass to the other when it dies.
Long polling: an update whose handling is held up delays no other, and nothing is acknowledged
past it until it is done.

Handling is held at a precise point with the fake's `hold`: a secretary's command first asks
Telegram whether they administer the group (getChatMember), which changes nothing, so an update
held there has had no effect yet.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pytest
from botproc import BotProcess
from fake_bot_api import FakeBotApi, exchange

from bot.http import RETRIES
from storage.inbox import LEASE

SECRET = "delivery-webhook-secret"
GROUP, SECRETARY, MEMBER = -100950, 951, 952
GROUP_ADMINS = {GROUP: SECRETARY}  # the polling bot's fake (conftest)
EMPTY_LIST = "本群暂无定时提醒"  # the secretary's /reminders in a group without any


def replies(api: FakeBotApi, chat_id: int, since: int) -> list[str]:
    return [c.text for c in api.calls[since:] if c.method == "sendMessage" and c.chat_id == chat_id]


def stored_status(bot: BotProcess, update_id: int) -> list[tuple[str, int]]:
    return [(str(s), int(a)) for s, a in bot.query(
        f"SELECT status, attempts FROM inboundupdate WHERE update_id = {int(update_id)}")]


def wait_done(bot: BotProcess, update_id: int, timeout: float = 10.0) -> list[tuple[str, int]]:
    """The stored status once the update is marked done (the marks are written in batches)."""
    deadline = time.monotonic() + timeout
    while (status := stored_status(bot, update_id))[0][0] != "done":
        if time.monotonic() > deadline:
            return status
        time.sleep(0.05)
    return status


def post_to(bot: BotProcess, update: dict) -> None:  # type: ignore[type-arg]
    """Deliver `update` to this replica as Telegram's webhook would; it must be accepted."""
    assert bot.post_update(update, secret=SECRET) == 200


def held_at_admin_check(api: FakeBotApi, deliver: object) -> dict:  # type: ignore[type-arg]
    """The secretary's /reminders, delivered by `deliver(update)`, held where the process asks
    Telegram about them; returns the update once its handling has got there."""
    api.hold("getChatMember", count=1 + RETRIES)  # each attempt, until release()
    mark = api.mark()
    update = api.updates.message("/reminders", user_id=SECRETARY, chat_id=GROUP)
    deliver(update)  # type: ignore[operator]
    api.wait_for(lambda c: c.method == "getChatMember", since=mark, timeout=20)
    return update


def test_a_stored_update_survives_sigkill_and_is_handled_once(tmp_path: Path) -> None:
    """An update answered 200 and then cut off by SIGKILL before any effect is handled once
    by the restarted process; its repeat is dropped."""
    with FakeBotApi() as api:
        api.set_admin(GROUP, SECRETARY)
        bot = BotProcess(api, tmp_path, database_url=f"sqlite:///{tmp_path / 'd.db'}",
                         webhook_secret=SECRET, branches=[GROUP]).start()
        try:
            mark = api.mark()
            update = held_at_admin_check(api, api.enqueue)
            api.wait_confirmed(update["update_id"])  # Telegram was answered 200: it will not resend
            bot.kill()
            assert replies(api, GROUP, mark) == []
            assert stored_status(bot, update["update_id"]) == [("pending", 1)]
            api.release()

            bot.start()
            answer = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP,
                                  since=mark, timeout=20)
            assert EMPTY_LIST in answer.text
            assert bot.metric("dangjian_updates_recovered_total") == 1
            # the same update again, after the restart: dropped by its stored key
            assert bot.post_update(update, secret=SECRET) == 200
            exchange(api, "/help", user_id=SECRETARY, chat_id=GROUP)  # after it, in order
            assert [EMPTY_LIST in text for text in replies(api, GROUP, mark)] == [True, False]
            assert wait_done(bot, update["update_id"]) == [("done", 2)]
        finally:
            if bot.process is not None:
                assert bot.stop() == 0, bot.log()[-3000:]


@pytest.mark.slow
def test_replicas_drop_each_others_repeats_and_take_over_a_dead_ones_updates(
        postgres_url: str, tmp_path: Path) -> None:
    """On PostgreSQL a repeat delivered to the other replica is dropped (one answer), and a
    killed replica's unhandled update is handled once by the survivor."""
    with FakeBotApi() as api:
        api.set_admin(GROUP, SECRETARY)
        first, second = (BotProcess(api, tmp_path / name, database_url=postgres_url,
                                    webhook_secret=SECRET, branches=[GROUP] if name == "a" else ())
                         for name in ("a", "b"))
        for replica in (first, second):
            replica.workdir.mkdir()
            replica.start()
        try:
            mark = api.mark()
            question = api.updates.message("主题党日多久开展一次？", user_id=MEMBER)
            assert first.post_update(question, secret=SECRET) == 200
            api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == MEMBER, since=mark)
            assert wait_done(first, question["update_id"]) == [("done", 1)]
            assert second.post_update(question, secret=SECRET) == 200  # Telegram's repeat
            flush = api.updates.message("/help", user_id=MEMBER)
            assert second.post_update(flush, secret=SECRET) == 200
            api.wait_for_all(lambda c: c.method == "sendMessage" and c.chat_id == MEMBER, 2,
                             since=mark)
            assert len(replies(api, MEMBER, mark)) == 2  # one answer to the question
            assert second.metric('dangjian_webhook_rejected_total{reason="duplicate"}') == 1

            mark = api.mark()
            update = held_at_admin_check(api, partial(post_to, first))
            first.kill()
            api.release()
            answer = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP,
                                  since=mark, timeout=LEASE.total_seconds() + 30)
            assert EMPTY_LIST in answer.text
            assert second.metric("dangjian_updates_recovered_total") == 1
            exchange(api, "/help", user_id=SECRETARY, chat_id=GROUP)  # delivered to `second`
            assert len(replies(api, GROUP, mark)) == 2
            assert wait_done(second, update["update_id"]) == [("done", 2)]
        finally:
            for replica in (first, second):
                if replica.process is not None:
                    replica.stop()


def test_polling_a_held_update_delays_no_other_and_is_acknowledged_once_done(
        api: FakeBotApi, bot: BotProcess) -> None:
    """While one update's handling is held, another user's is fetched and answered, and
    nothing past the held one is acknowledged until it is done."""
    held = held_at_admin_check(api, api.enqueue)
    mark = api.mark()
    other = api.send("/start", user_id=MEMBER)  # fetched and answered meanwhile
    answer = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == MEMBER,
                          since=mark)
    assert "党建助手" in answer.text
    assert replies(api, GROUP, mark) == []  # the held one is still being handled
    assert api.confirmed_update_id < held["update_id"]  # and nothing past it is acknowledged
    api.release()
    answer = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == GROUP, since=mark)
    assert EMPTY_LIST in answer.text
    api.wait_confirmed(other["update_id"])  # both acknowledged now
