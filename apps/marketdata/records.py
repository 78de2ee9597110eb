"""Normalised market-data records: what adapters produce and the writer stores.

One NamedTuple per table, with one field per column of its spec (tables.py),
in column order; nullable fields default to None, a candle's ``closed`` to
False. Times are timezone-aware UTC datetimes; prices and sizes are
``Decimal`` (or strings in plain decimal notation), never floats.
"""

from apps.marketdata.tables import CANDLES, FUNDING, OPEN_INTEREST, ORDER_BOOKS, TRADES

CandleRecord = CANDLES.record
FundingRecord = FUNDING.record
OpenInterestRecord = OPEN_INTEREST.record
TradeRecord = TRADES.record
OrderBookRecord = ORDER_BOOKS.record
