"""A pending choice (a private upload's branch) is kept in the database: taken once, replaced
by a newer question, lapsed after an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.services import choices

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
USER = 2**60 + 7  # a number outside Telegram's range, as other platforms' ids get


def test_a_choice_is_taken_once_and_a_newer_question_replaces_it(db) -> None:
    with db.session() as session:
        choices.hold(session, USER, "upload", {"name": "旧.docx"}, NOW)
        choices.hold(session, USER, "upload", {"name": "新.docx"}, NOW + timedelta(minutes=1))
        session.commit()
    with db.session() as session:
        assert choices.take(session, USER, "other", NOW) is None
        assert choices.take(session, USER, "upload", NOW) == {"name": "新.docx"}
        session.commit()
    with db.session() as session:
        assert choices.take(session, USER, "upload", NOW) is None


def test_a_choice_lapses_after_an_hour(db) -> None:
    with db.session() as session:
        choices.hold(session, USER, "upload", {"name": "计划.docx"}, NOW)
        session.commit()
    with db.session() as session:
        assert choices.take(session, USER, "upload", NOW + choices.KEPT_FOR
                            + timedelta(seconds=1)) is None
