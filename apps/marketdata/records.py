"""Normalised market-data records: what adapters produce and the writer stores.

Times are timezone-aware UTC datetimes; prices and sizes are ``Decimal`` (or
strings in plain decimal notation), never floats.
"""

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

Number = Decimal | str


class CandleRecord(NamedTuple):
    starlisting_id: int
    time: datetime  # open time
    open: Number
    high: Number
    low: Number
    close: Number
    volume: Number
    num_trades: int | None = None
    closed: bool = False


class FundingRecord(NamedTuple):
    trading_pair_id: int
    time: datetime
    funding_rate: Number
    premium: Number | None = None
    mark_price: Number | None = None
    index_price: Number | None = None
    oracle_price: Number | None = None
    mid_price: Number | None = None
    next_funding_time: datetime | None = None


class OpenInterestRecord(NamedTuple):
    trading_pair_id: int
    time: datetime
    open_interest: Number
    notional_value: Number | None = None
    day_base_volume: Number | None = None
    day_notional_volume: Number | None = None
