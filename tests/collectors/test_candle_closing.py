"""Hyperliquid never flags a closed candle: Kirby decides from rollover and the clock."""

from decimal import Decimal

from apps.collectors.closing import CandleCloser
from apps.collectors.exchanges.events import CandleUpdate

MINUTE = 60_000


def update(open_ms, close="100", coin="BTC", interval="1m", closed=None):
    price = Decimal(close)
    return CandleUpdate(
        coin, interval, open_ms, open_ms + MINUTE - 1, price, price, price, price, Decimal("1"), 1, closed
    )


def test_pushes_of_the_open_candle_are_stored_open():
    closer = CandleCloser()

    out = closer.feed(update(0, "100"), now_ms=10_000) + closer.feed(update(0, "101"), now_ms=20_000)

    assert [(u.close, u.closed) for u in out] == [(Decimal("100"), False), (Decimal("101"), False)]


def test_a_later_candle_closes_the_previous_one_with_its_last_values():
    closer = CandleCloser()
    closer.feed(update(0, "100"), now_ms=10_000)
    closer.feed(update(0, "101"), now_ms=20_000)

    out = closer.feed(update(MINUTE, "102"), now_ms=MINUTE + 100)

    assert [(u.open_ms, u.close, u.closed) for u in out] == [(0, Decimal("101"), True), (MINUTE, Decimal("102"), False)]


def test_a_candle_whose_interval_ended_closes_without_a_newer_push():
    closer = CandleCloser()
    closer.feed(update(0, "100"), now_ms=10_000)

    assert closer.expire(now_ms=MINUTE - 1) == []
    (closed,) = closer.expire(now_ms=MINUTE)
    assert (closed.open_ms, closed.closed) == (0, True)
    assert closer.expire(now_ms=MINUTE * 2) == []  # closed once
    assert closer.feed(update(MINUTE), now_ms=MINUTE + 5)[0].open_ms == MINUTE  # no second close of candle 0


def test_a_late_push_for_a_superseded_candle_is_final():
    closer = CandleCloser()
    closer.feed(update(MINUTE), now_ms=MINUTE + 10)

    (late,) = closer.feed(update(0, "99"), now_ms=MINUTE + 20)

    assert (late.open_ms, late.closed) == (0, True)


def test_series_are_tracked_separately():
    closer = CandleCloser()
    closer.feed(update(0, coin="BTC"), now_ms=1)

    out = closer.feed(update(MINUTE, coin="SOL"), now_ms=MINUTE + 1)

    assert [(u.coin, u.closed) for u in out] == [("SOL", False)]


def test_an_exchange_that_says_closed_is_believed():
    assert CandleCloser().feed(update(0, closed=True), now_ms=1)[0].closed is True
