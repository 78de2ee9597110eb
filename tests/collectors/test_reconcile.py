"""Settling a closed candle built from trades against the exchange's REST candle: REST wins, every outcome counted."""

from decimal import Decimal

from apps.collectors.exchanges.events import BuiltCandle, CandleUpdate
from apps.collectors.reconcile import settle
from lib.metrics import BUILT_CANDLES

ONE = Decimal("1")


def candle(volume, num_trades=None):
    return CandleUpdate("BTC-USD", "1m", 0, 59_999, ONE, Decimal("2"), ONE, ONE, Decimal(volume), num_trades, True)


def counted(outcome):
    return BUILT_CANDLES.labels("test-venue", outcome)._value.get()


def test_rest_wins_where_they_differ_and_each_outcome_is_counted():
    before = {o: counted(o) for o in ("equal", "differed", "partial", "unconfirmed")}
    built = BuiltCandle(candle("3", num_trades=4), complete=True)

    assert settle(built, candle("3"), exchange="test-venue", last_attempt=False) == (built.update, "equal")
    final, outcome = settle(built, candle("3.5"), exchange="test-venue", last_attempt=False)
    assert (final.volume, final.num_trades, final.closed, outcome) == (Decimal("3.5"), None, True, "differed")
    partial = BuiltCandle(candle("1", num_trades=1), complete=False)
    assert settle(partial, candle("3.5"), exchange="test-venue", last_attempt=False)[1] == "partial"
    # REST has no candle yet: ask again; after the last attempt the built candle is stored, unconfirmed.
    assert settle(built, None, exchange="test-venue", last_attempt=False) == (None, None)
    assert settle(built, None, exchange="test-venue", last_attempt=True) == (built.update, "unconfirmed")

    assert {o: counted(o) - before[o] for o in before} == {"equal": 1, "differed": 1, "partial": 1, "unconfirmed": 1}
