"""Webhook mode of the real process: secret checked, repeats dropped, size limited, health."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botproc import BotProcess
from fake_bot_api import FakeBotApi

SECRET = "e2e-webhook-secret_123"


@pytest.fixture(scope="module")
def hook(api: FakeBotApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    workdir = tmp_path_factory.mktemp("webhook")
    process = BotProcess(api, workdir, database_url=f"sqlite:///{workdir / 'dangjian.db'}",
                         webhook_secret=SECRET)
    process.start()
    process.wait_ready()
    yield process
    assert process.stop() == 0, process.log()[-3000:]


def deliver_and_flush(api: FakeBotApi, hook: BotProcess, update: dict, *,
                      secret: str | None) -> int:
    """POST `update`, then a valid /help from the same user and wait for its reply: one user's
    updates are handled in order, so whatever `update` caused has happened by then."""
    status = hook.post_update(update, secret=secret)
    user = update["message"]["from"]["id"]
    mark = api.mark()
    assert hook.post_update(api.updates.message("/help", user_id=user), secret=SECRET) == 200
    api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == user, since=mark)
    return status


def test_sets_webhook_with_secret_and_never_polls(api: FakeBotApi, hook: BotProcess) -> None:
    """At start the process registers its URL and secret with Telegram and does not poll."""
    (call,) = api.calls_of("setWebhook")
    assert call.params["url"] == f"http://127.0.0.1:{hook.port}/telegram"
    assert call.params["secret_token"] == SECRET
    assert set(call.params["allowed_updates"]) >= {"message", "callback_query"}
    assert api.get_updates_count == 0


def test_valid_update_is_answered(api: FakeBotApi, hook: BotProcess) -> None:
    """A genuine delivery is acknowledged with 200 and handled in the background."""
    mark = api.mark()
    assert hook.post_update(api.updates.message("/start", user_id=201), secret=SECRET) == 200
    reply = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == 201, since=mark)
    assert "党建助手" in reply.text


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("wrong-secret", 403),
                                                (SECRET[:-1], 403), ("", 403)])
def test_missing_or_wrong_secret_is_refused(api: FakeBotApi, hook: BotProcess,
                                            secret: str | None, status: int) -> None:
    """Without the secret header 401, with a wrong one 403; the update is not handled."""
    mark = api.mark()
    update = api.updates.message("/start", user_id=202)
    assert deliver_and_flush(api, hook, update, secret=secret) == status
    assert len([c for c in api.calls[mark:] if c.chat_id == 202]) == 1  # the flush's reply


def test_duplicate_update_is_handled_once(api: FakeBotApi, hook: BotProcess) -> None:
    """Telegram re-delivering an update_id does not make the bot act twice."""
    update = api.updates.message("/help", user_id=204)
    assert hook.post_update(update, secret=SECRET) == 200
    api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == 204)
    mark = api.mark()
    assert deliver_and_flush(api, hook, update, secret=SECRET) == 200
    assert len([c for c in api.calls[mark:] if c.chat_id == 204]) == 1  # the flush's reply


def test_oversize_and_malformed_bodies_are_rejected(api: FakeBotApi, hook: BotProcess) -> None:
    """A body over the limit gets 413, one that is not an update 400; neither is handled."""
    mark = api.mark()
    huge = api.updates.message("/ask " + "党" * 600_000, user_id=206)
    assert deliver_and_flush(api, hook, huge, secret=SECRET) == 413
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    for body in (b"not json", b"[1, 2]", b'{"update_id": "x"}', b'{"message": {}}'):
        assert hook.request("POST", "/telegram", body, headers)[0] == 400
    assert len([c for c in api.calls[mark:] if c.chat_id == 206]) == 1  # the flush's reply


def test_health_readiness_and_metrics(api: FakeBotApi, hook: BotProcess) -> None:
    """Liveness, readiness with the database, and the refused requests counted by reason."""
    status, body = hook.get("/healthz")
    assert status == 200 and '"mode": "webhook"' in body
    status, body = hook.get("/readyz")
    assert status == 200 and '"database": "ok"' in body
    _, page = hook.get("/metrics")
    assert 'dangjian_webhook_rejected_total{reason="bad_secret"}' in page
    assert 'dangjian_webhook_rejected_total{reason="no_secret"}' in page
    assert hook.metric("dangjian_updates_total") >= 3
