"""Exchange events -> Kirby records for the write path."""

from decimal import Context
from functools import lru_cache

from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord, TradeRecord
from lib.timeutil import from_ms, from_us

_HOUR_MS = 3_600_000
_new = tuple.__new__
# Enough digits that open interest x mark price is never rounded.
_EXACT = Context(prec=100)


# The open candle is pushed again and again: its open time is converted once (a datetime costs microseconds).
_open_time = lru_cache(maxsize=4096)(from_ms)


def candle_records(update, starlisting_ids):
    time = _open_time(update.open_ms)
    _, _, _, _, open_, high, low, close, volume, num_trades, closed = update
    closed = bool(closed)
    # The record's C constructor, every field in order (the open candle is pushed again and again).
    return [
        _new(CandleRecord, (sid, time, open_, high, low, close, volume, num_trades, closed)) for sid in starlisting_ids
    ]


def context_records(context, period_end_ms, received_ms, trading_pair_ids, *, funding_interval_ms=_HOUR_MS):
    """Funding and open-interest rows of one sampled asset context.

    ``next_funding_time`` is the next funding boundary after the update was
    received (Hyperliquid funds hourly); notional value is open interest x mark.
    """
    time = from_ms(period_end_ms)
    next_funding = from_ms((received_ms // funding_interval_ms + 1) * funding_interval_ms)
    notional = None if context.mark_price is None else _EXACT.multiply(context.open_interest, context.mark_price)
    rows = []
    for pair_id in trading_pair_ids:
        rows.append(
            FundingRecord(
                pair_id,
                time,
                context.funding_rate,
                context.premium,
                context.mark_price,
                None,
                context.oracle_price,
                context.mid_price,
                next_funding,
            )  # fmt: skip
        )
        rows.append(
            OpenInterestRecord(
                pair_id, time, context.open_interest, notional, context.day_base_volume, context.day_notional_volume
            )  # fmt: skip
        )
    return rows


def funding_records(update, period_end_ms, trading_pair_ids):
    """Funding rows of one sampled FundingUpdate (the exchange says when funding is next)."""
    time = from_ms(period_end_ms)
    next_funding = None if update.next_funding_ms is None else from_ms(update.next_funding_ms)
    return [
        FundingRecord(
            pair_id, time, update.funding_rate, None, update.mark_price, update.index_price, None, None, next_funding
        )  # fmt: skip
        for pair_id in trading_pair_ids
    ]


def open_interest_records(update, period_end_ms, trading_pair_ids):
    """Open-interest rows of one sampled OpenInterestUpdate; notional is open interest x mark, as for Hyperliquid."""
    time = from_ms(period_end_ms)
    notional = None if update.mark_price is None else _EXACT.multiply(update.open_interest, update.mark_price)
    return [
        OpenInterestRecord(
            pair_id, time, update.open_interest, notional, update.day_base_volume, update.day_notional_volume
        )  # fmt: skip
        for pair_id in trading_pair_ids
    ]


# The previous trade's (time_us, datetime): trades come in bursts at one time, and a datetime costs more
# than the comparison (a tuple, replaced whole: safe from any thread).
_previous_time = (None, None)


def trade_records(update, trading_pair_ids):
    global _previous_time
    _, trade_id, price, size, side, time_us = update
    previous_us, time = _previous_time
    if time_us != previous_us:
        time = from_us(time_us)
        _previous_time = (time_us, time)
    # The record's C constructor, every field in order: a flood of trades makes tens of thousands a second.
    if len(trading_pair_ids) == 1:  # the usual case, without a comprehension's call
        return [_new(TradeRecord, (trading_pair_ids[0], time, trade_id, price, size, side))]
    return [_new(TradeRecord, (pair_id, time, trade_id, price, size, side)) for pair_id in trading_pair_ids]
