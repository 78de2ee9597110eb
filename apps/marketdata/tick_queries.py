"""Read queries for trades and order-book snapshots, shaped for the API.

Trades are ordered by time, then by trade id in numeric order for integer ids
(shorter first, then bytewise: ids are text because some venues use
strings): many trades share a millisecond, so pages continue from a cursor
(time and trade id of the last row), never from a time alone.
"""

import base64
from datetime import UTC, datetime

import orjson

from apps.marketdata.queries import fetch as _fetch
from apps.marketdata.tables import ORDER_BOOKS, TRADES

TRADE_FIELDS = TRADES.item_fields
BOOK_FIELDS = ORDER_BOOKS.item_fields
_TRADE_SELECT = "time, trade_id, price::text, size::text, side"
_TRADE_ORDER = "time {0}, length(trade_id) {0}, trade_id {0}"
_BOOK_SELECT = "time, sequence, bids[1:%(depth)s]::text[], asks[1:%(depth)s]::text[]"


def encode_cursor(time, trade_id):
    micros = int(time.timestamp()) * 1_000_000 + time.microsecond
    return base64.urlsafe_b64encode(orjson.dumps([micros, trade_id])).decode().rstrip("=")


def decode_cursor(text):
    """(time, trade_id) of a cursor; ValueError when it is not one this API gave out."""
    try:
        micros, trade_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if type(micros) is not int or not isinstance(trade_id, str) or not trade_id:
            raise ValueError
        return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000), trade_id
    except (ValueError, TypeError, OverflowError, OSError, orjson.JSONDecodeError):
        raise ValueError("is not a cursor from a previous response's metadata.next") from None


def trade_rows(trading_pair_id, window, after=None, using="default"):
    """Trades of ``[start, end)`` ascending, and the cursor after the last when more follow (else None).

    From ``start`` (or just after the ``after`` cursor) the first ``limit``; with neither, the newest ``limit``.
    """
    where, params = ["trading_pair_id = %s"], [trading_pair_id]
    if window.start is not None:
        where.append("time >= %s")
        params.append(window.start)
    if window.end is not None:
        where.append("time < %s")
        params.append(window.end)
    if after is not None:
        time, trade_id = after
        where.append("time >= %s AND (time, length(trade_id), trade_id) > (%s, %s, %s)")
        params += [time, time, len(trade_id), trade_id]
    newest = window.start is None and after is None
    order = _TRADE_ORDER.format("DESC" if newest else "ASC")
    sql = f"SELECT {_TRADE_SELECT} FROM trades WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s"
    rows = _fetch(sql, [*params, window.limit + (0 if newest else 1)], using)
    if newest:
        rows.reverse()
        return [dict(zip(TRADE_FIELDS, row)) for row in rows], None
    more = len(rows) > window.limit
    rows = rows[: window.limit]
    following = encode_cursor(rows[-1][0], rows[-1][1]) if more else None
    return [dict(zip(TRADE_FIELDS, row)) for row in rows], following


def _book(row):
    time, sequence, bids, asks = row
    return {"time": time, "sequence": sequence, "bids": _pairs(bids), "asks": _pairs(asks)}


def _pairs(levels):
    # text[] of an n x 2 numeric[] arrives as nested lists of text; an empty side as [].
    return [list(level) for level in levels or []]


def book_at(trading_pair_id, moment, depth, using="default"):
    """The stored snapshot at or before ``moment``, its sides cut to ``depth`` levels; None when there is none."""
    sql = (
        f"SELECT {_BOOK_SELECT % {'depth': int(depth)}} FROM orderbook_snapshots"
        " WHERE trading_pair_id = %s AND time <= %s ORDER BY time DESC LIMIT 1"
    )
    rows = _fetch(sql, [trading_pair_id, moment], using)
    return _book(rows[0]) if rows else None


def book_rows(trading_pair_id, window, depth, using="default"):
    """Stored snapshots of ``[start, end)`` ascending: the first ``limit`` from start, or the newest ``limit``."""
    where, params = ["trading_pair_id = %s"], [trading_pair_id]
    if window.start is not None:
        where.append("time >= %s")
        params.append(window.start)
    if window.end is not None:
        where.append("time < %s")
        params.append(window.end)
    newest = window.start is None
    sql = (
        f"SELECT {_BOOK_SELECT % {'depth': int(depth)}} FROM orderbook_snapshots WHERE {' AND '.join(where)}"
        f" ORDER BY time {'DESC' if newest else 'ASC'} LIMIT %s"
    )
    rows = _fetch(sql, [*params, window.limit], using)
    if newest:
        rows.reverse()
    return [_book(row) for row in rows]
