"""End-to-end fixtures: a fake Bot API over HTTP and the real `dangjian run` process against it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from botproc import BotProcess
from fake_bot_api import FakeBotApi

ADMIN = 900  # in DANGJIAN_ADMINS of every bot process started here


def branches_of(module: object) -> list[int]:
    """The groups a module's bot serves as registered branches: its BRANCHES, else every
    group it names (a module-level negative id whose name has GROUP in it)."""
    named = getattr(module, "BRANCHES", None)
    if named is not None:
        return list(named)
    return sorted({value for name, value in vars(module).items()
                   if "GROUP" in name and isinstance(value, int) and value < 0})


@pytest.fixture(scope="module")
def api(request: pytest.FixtureRequest) -> Iterator[FakeBotApi]:
    """The fake Bot API of a test module; the module may set GROUP_ADMINS ({group: user}) and
    STRICT_PRIVATE (Telegram's rule that the bot cannot write first to a user privately)."""
    strict = getattr(request.module, "STRICT_PRIVATE", False)
    with FakeBotApi(strict_private=strict) as server:
        for group, user in getattr(request.module, "GROUP_ADMINS", {}).items():
            server.set_admin(group, user)
        yield server


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'dangjian.db'}"


@pytest.fixture(scope="module")
def database_url(sqlite_url: str) -> str:
    """The database of a module's bot: a SQLite file (a module may override this fixture, e.g.
    to run on PostgreSQL as well, with `module_postgres_url`)."""
    return sqlite_url


@pytest.fixture(scope="module")
def bot(api: FakeBotApi, database_url: str, request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """One polling bot for the whole module (tests use their own chats); a module's
    `prepare_database(url)` runs before it starts."""
    workdir = tmp_path_factory.mktemp("bot")
    url = database_url
    if prepare := getattr(request.module, "prepare_database", None):
        prepare(url)
    process = BotProcess(api, workdir, database_url=url, admins=str(ADMIN),
                         branches=branches_of(request.module))
    process.start()
    yield process
    if process.process is not None:  # a test may have killed it
        assert process.stop() == 0, process.log()[-3000:]


def seen_in_branch(api: FakeBotApi, bot: BotProcess, group: int, users: list[int]) -> None:
    """These users each say something in the (registered) group, as members do, so that the
    bot serves them in private too; returns once their memberships are stored."""
    for user in users:
        api.send("大家好", user_id=user, chat_id=group)
    deadline = time.monotonic() + 15
    wanted = ",".join(map(str, users))
    while bot.query(f"SELECT count(DISTINCT user_id) FROM branchmembership WHERE chat_id = "
                    f"{group} AND user_id IN ({wanted})") != [(len(users),)]:
        assert time.monotonic() < deadline, "the members were not recorded"
        time.sleep(0.05)
