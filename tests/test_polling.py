"""Which updates long polling acknowledges: only the longest run of handled ones from the oldest
fetched, whatever order they finish in; a fetch never hands over an update twice."""

from __future__ import annotations

from telegram import Update

from bot.polling import InHand


def updates(*ids: int) -> list[Update]:
    return [Update(update_id=i) for i in ids]


def test_the_offset_moves_only_past_handled_updates_at_the_front() -> None:
    """Out-of-order completions acknowledge nothing until the oldest is done."""
    in_hand = InHand()
    assert [u.update_id for u in in_hand.take(updates(1, 2, 3, 4))] == [1, 2, 3, 4]
    in_hand.done(3)
    in_hand.done(2)
    assert in_hand.offset is None and not in_hand.idle.is_set()  # 1 still running
    in_hand.done(1)
    assert in_hand.offset == 4 and in_hand.advanced.is_set() and len(in_hand) == 1
    in_hand.done(4)
    assert in_hand.offset == 5 and in_hand.idle.is_set()


def test_a_fetch_hands_over_only_updates_not_in_hand_or_handled() -> None:
    """Updates still in hand, or handled since a fetch was sent, are not handed over again."""
    in_hand = InHand()
    in_hand.take(updates(1, 2))
    in_hand.done(1)
    # the next fetch (from offset 2) brings 2 again, still running, and 3 new
    assert [u.update_id for u in in_hand.take(updates(2, 3))] == [3]
    in_hand.done(2)
    # a fetch sent before 2 was done still carries it
    assert [u.update_id for u in in_hand.take(updates(2, 3, 4))] == [4]
