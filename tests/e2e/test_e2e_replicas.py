"""Two webhook replicas on one PostgreSQL database behind a load balancer (the fake delivers to
each in turn, and to the other when one does not answer): every tap is recorded once and
answered once, every question answered once, whichever replica gets it, and the survivor carries
on alone after the other is killed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from botproc import BotProcess
from fake_bot_api import FakeBotApi

SECRET = "replicas-webhook-secret"
GROUP = -100888
SECRETARY = 8800
QUESTION = "主题党日多久开展一次？"


def tap_all(api: FakeBotApi, post, members: range) -> set[str]:  # type: ignore[no-untyped-def]
    """Each member taps 签到 twice and asks a question privately; waits for every answer."""
    mark = api.mark()
    taps = {api.tap(post, "签到", user_id=m)["callback_query"]["id"]
            for m in members for _ in range(2)}
    for member in members:
        api.send(QUESTION, user_id=member)
    api.wait_for_all(lambda c: c.method == "answerCallbackQuery", len(taps), since=mark,
                     timeout=60)
    api.wait_for_all(lambda c: c.method == "sendMessage" and (c.chat_id or 0) in members,
                     len(members), since=mark, timeout=60)
    return taps


@pytest.mark.slow
def test_two_webhook_replicas_share_the_work_and_survive_one_dying(postgres_url: str,
                                                                   tmp_path: Path) -> None:
    with FakeBotApi() as api:
        api.set_admin(GROUP, SECRETARY)
        replicas = [BotProcess(api, tmp_path / name, database_url=postgres_url,
                               webhook_secret=SECRET) for name in ("a", "b")]
        for replica in replicas:
            replica.workdir.mkdir()
            replica.start()
        api.webhook_targets = [f"http://127.0.0.1:{r.port}/telegram" for r in replicas]
        try:
            mark = api.mark()
            api.send("/remind 现在 主题党日 学习党章", user_id=SECRETARY, chat_id=GROUP)
            post = api.wait_for(lambda c: c.method == "sendMessage" and bool(c.buttons),
                                since=mark, timeout=30)

            taps = tap_all(api, post, range(1, 21))
            assert all(api.webhook_posts[url] > 0 for url in api.webhook_targets), \
                api.webhook_posts
            replicas[0].kill()
            survivor_before = api.webhook_posts[api.webhook_targets[1]]
            taps |= tap_all(api, post, range(21, 41))
            assert api.webhook_posts[api.webhook_targets[1]] >= survivor_before + 60
            ((rows, people),) = replicas[1].query(
                "SELECT COUNT(*), COUNT(DISTINCT user_id) FROM attendance WHERE method <> 'role'")
        finally:
            for replica in replicas:
                if replica.process is not None:
                    replica.stop()

    answered = Counter(str(c.params["callback_query_id"])
                       for c in api.calls_of("answerCallbackQuery"))
    assert set(answered) == taps and set(answered.values()) == {1}
    assert (rows, people) == (40, 40)
    replies = Counter(c.chat_id for c in api.calls_of("sendMessage") if 0 < (c.chat_id or 0) <= 40)
    assert replies == Counter(range(1, 41))  # one answer to each question
    assert not api.duplicate_sends()
