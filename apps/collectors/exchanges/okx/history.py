"""OKX V5 REST history for backfills (history-candles, funding-rate-history, rubik open interest) and the trades
a stream missed while it reconnected (history-trades).

OKX answers newest first and pages backwards: ``after=<ts>`` asks for rows
older than ``ts`` and ``before=<ts>`` for rows newer. The engine wants
ascending pages, so the window ``[start_ms, end_ms)`` is walked forward in
sub-windows that cannot hold more rows than one answer (100 candles, 100
hours of funding, since OKX settles at most hourly, 100 open-interest
periods), each asked with ``after`` = the sub-window's end and ``before`` =
one millisecond before its start. Each answer is reversed; rows out of
order, repeated or outside the sub-window are counted (``skipped``) and
dropped. An empty sub-window (before the instrument was listed) moves on.

Every request is paid for from ``budget`` (``lib.budget.Budget("okx")``)
at the endpoint's weight (protocol). HTTP 429 or code 50011 is reported to
the budget and raised as ``RateLimited``: the job resumes from its
checkpoint once OKX's own budget lets it, and no other exchange waits.
"""

import logging
import urllib.error
import urllib.parse
import urllib.request

import orjson

from apps.collectors.exchanges.events import HistoryError, MalformedFrame, RateLimited, ascending, decimal
from apps.collectors.exchanges.okx import contracts, protocol
from apps.collectors.exchanges.okx.parser import (
    candle_row,
    contract_value,
    data_list,
    parse_funding_row,
    parse_open_interest_row,
    trade,
)
from apps.collectors.exchanges.okx.symbols import UnsupportedMarket, is_swap, pair_of, swap_id
from apps.markets import intervals as kirby_intervals
from lib.metrics import MESSAGES_RECEIVED

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
INSTRUMENTS_WEIGHT = RECENT_TRADES_WEIGHT = 1
OPEN_INTEREST_PERIOD = "5m"  # the finest OKX keeps


def _retry_after(headers):
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def get(path, params, weight, *, url=None, budget=None, timeout=30):
    """``data`` of one GET, paid from ``budget``; RateLimited or HistoryError when refused."""
    address = protocol.rest_url(path, url) + "?" + urllib.parse.urlencode(params)
    if budget is not None:
        budget.take(weight)
    try:
        with urllib.request.urlopen(urllib.request.Request(address), timeout=timeout) as response:
            body = orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 429:
            limited = RateLimited(_retry_after(error.headers))
            if budget is not None:
                budget.rate_limited(limited.retry_after)
            raise limited from None
        raise HistoryError(f"{address}: HTTP {error.code}: {error.read()[:200]!r}") from None
    except orjson.JSONDecodeError:
        raise HistoryError(f"{address}: the response is not JSON") from None
    if isinstance(body, dict) and body.get("code") == protocol.RATE_LIMIT_CODE:
        if budget is not None:
            budget.rate_limited(None)
        raise RateLimited(None)
    try:
        return data_list(body)
    except MalformedFrame as error:
        raise HistoryError(f"{address}: {error}") from None


def _swap(coin):
    try:
        return swap_id(coin)
    except UnsupportedMarket as error:
        raise HistoryError(str(error)) from None


def _window(cursor, window_end):
    return {"after": window_end, "before": cursor - 1}


def _first_slot(interval, t_ms):
    slot = kirby_intervals.floor(interval, t_ms)
    return slot if slot >= t_ms else kirby_intervals.shift(interval, slot, 1)


def _bar(interval):
    bar = protocol.INTERVALS.get(interval)
    if bar is None:
        raise HistoryError(f"OKX has no {interval!r} candles")
    return bar


def candle_pages(coin, interval, start_ms, end_ms, *, url=None, budget=None, skipped=None):
    """Yield lists of CandleUpdate (ascending, open time in [start_ms, end_ms)), one list per answer.

    ``coin`` is the instrument id (``BTC-USDT-SWAP``, ``BTC-USDT``); a candle
    is closed as OKX's ``confirm`` says.
    """
    pair_of(coin)
    bar, skipped = _bar(interval), [] if skipped is None else skipped
    cursor = _first_slot(interval, start_ms)
    while cursor < end_ms:
        window_end = min(end_ms, kirby_intervals.shift(interval, cursor, protocol.MAX_CANDLES))
        params = {"instId": coin, "bar": bar, **_window(cursor, window_end), "limit": protocol.MAX_CANDLES}
        rows = get(protocol.HISTORY_CANDLES_PATH, params, protocol.CANDLES_WEIGHT, url=url, budget=budget)
        candles = ascending(
            protocol.NAME, [candle_row(row, coin, interval) for row in rows], cursor, window_end, skipped
        )
        if candles:
            yield candles
        cursor = window_end


def earliest_candle_ms(coin, interval, before_ms, *, url=None, budget=None):
    """Open time of the oldest candle in the page just before ``before_ms``, or None.

    OKX publishes a candle for every interval since listing, so a page with
    nothing before the first candle a job found means history starts there.
    """
    params = {"instId": coin, "bar": _bar(interval), "after": before_ms, "limit": protocol.MAX_CANDLES}
    rows = get(protocol.HISTORY_CANDLES_PATH, params, protocol.CANDLES_WEIGHT, url=url, budget=budget)
    return min((candle_row(row, coin, interval).open_ms for row in rows), default=None)


def funding_pages(coin, start_ms, end_ms, *, url=None, budget=None, skipped=None):
    """Yield lists of FundingPoint (ascending, settlement time in [start_ms, end_ms)), one list per answer."""
    _swap(coin)
    skipped = [] if skipped is None else skipped
    cursor = start_ms
    while cursor < end_ms:
        window_end = min(end_ms, cursor + protocol.MAX_FUNDING_ROWS * HOUR_MS)
        params = {"instId": coin, **_window(cursor, window_end), "limit": protocol.MAX_FUNDING_ROWS}
        rows = get(protocol.FUNDING_HISTORY_PATH, params, protocol.FUNDING_WEIGHT, url=url, budget=budget)
        points = ascending(protocol.NAME, [parse_funding_row(row, coin) for row in rows], cursor, window_end, skipped)
        if points:
            yield points
        cursor = window_end


def earliest_funding_ms(coin, before_ms, *, url=None, budget=None):
    """Time of the oldest settlement in the funding page just before ``before_ms``, or None."""
    params = {"instId": _swap(coin), "after": before_ms, "limit": protocol.MAX_FUNDING_ROWS}
    rows = get(protocol.FUNDING_HISTORY_PATH, params, protocol.FUNDING_WEIGHT, url=url, budget=budget)
    return min((parse_funding_row(row, coin).time_ms for row in rows), default=None)


def _period(period):
    okx_period = protocol.OPEN_INTEREST_PERIODS.get(period)
    if okx_period is None:
        raise HistoryError(
            f"OKX keeps no {period!r} open interest; periods: {', '.join(protocol.OPEN_INTEREST_PERIODS)}"
        )
    return okx_period


def open_interest_pages(coin, start_ms, end_ms, *, period=OPEN_INTEREST_PERIOD, url=None, budget=None, skipped=None):
    """Yield lists of OpenInterestPoint (ascending, time in [start_ms, end_ms)), one every ``period``.

    The rubik endpoint pages with ``begin``/``end`` (both inclusive). How far
    back OKX keeps each period is not documented in Kirby's sources; a job
    over older times records ``available_from`` where OKX's answers begin.
    """
    okx_period, skipped = _period(period), [] if skipped is None else skipped
    _swap(coin)
    cursor = _first_slot(period, start_ms)
    while cursor < end_ms:
        window_end = min(end_ms, kirby_intervals.shift(period, cursor, protocol.MAX_OPEN_INTEREST_ROWS))
        params = {"instId": coin, "period": okx_period, "begin": cursor, "end": window_end - 1,
                  "limit": protocol.MAX_OPEN_INTEREST_ROWS}  # fmt: skip
        rows = get(protocol.OPEN_INTEREST_HISTORY_PATH, params, protocol.OPEN_INTEREST_WEIGHT, url=url, budget=budget)
        points = ascending(protocol.NAME, [parse_open_interest_row(row) for row in rows], cursor, window_end, skipped)
        if points:
            yield points
        cursor = window_end


def earliest_open_interest_ms(coin, before_ms, *, period=OPEN_INTEREST_PERIOD, url=None, budget=None):
    """Time of the oldest open-interest point in the page just before ``before_ms``, or None."""
    params = {"instId": _swap(coin), "period": _period(period), "end": before_ms - 1,
              "limit": protocol.MAX_OPEN_INTEREST_ROWS}  # fmt: skip
    rows = get(protocol.OPEN_INTEREST_HISTORY_PATH, params, protocol.OPEN_INTEREST_WEIGHT, url=url, budget=budget)
    return min((parse_open_interest_row(row).time_ms for row in rows), default=None)


def contract_values(instrument=None, *, url=None, budget=None):
    """{swap id: coin per contract} from ``/api/v5/public/instruments`` (every swap, or ``instrument`` alone).

    Coin per contract is ``ctVal`` x ``ctMult``; a swap whose ``ctVal`` is not
    in its base coin (an inverse swap) is left out: Kirby has no such market.
    """
    params = {"instType": "SWAP", **({"instId": instrument} if instrument else {})}
    values = {}
    for row in get(protocol.INSTRUMENTS_PATH, params, INSTRUMENTS_WEIGHT, url=url, budget=budget):
        if not isinstance(row, dict) or not is_swap(row.get("instId")):
            continue
        try:
            if row.get("ctValCcy") not in (None, pair_of(row["instId"])[0]):
                continue
            value = decimal(row.get("ctVal"), "ctVal") * decimal(row.get("ctMult") or "1", "ctMult")
        except (MalformedFrame, UnsupportedMarket):
            continue
        if value > 0:
            values[row["instId"]] = value
    return values


def prepare_stream(plan, *, url=None, budget=None):
    """Read the contract values of the plan's swaps whose trades or book are collected, once per process.

    Runs whenever a stream reads its plan, before it subscribes. A swap whose
    value cannot be read (OKX away, no such swap) is left out of ``plan`` and
    listed as unsupported until a later read finds it: no contract count is
    ever stored as coins, and the stream's other series go on meanwhile.
    """
    names = sorted(name for name in {*plan.trades, *plan.books} if is_swap(name))
    if not contracts.missing(names):
        return
    problem = None
    try:
        contracts.remember(contract_values(url=url, budget=budget))
    except (HistoryError, RateLimited, OSError) as error:
        problem = error
    for name in contracts.missing(names) if problem is None else ():
        try:  # listed since the whole list was read: ask for it alone
            contracts.remember(contract_values(name, url=url, budget=budget))
        except (HistoryError, RateLimited, OSError) as error:
            problem = error
    for name in contracts.missing(names):
        log.warning("okx: no contract value for %s (%s); its trades and book wait", name, problem)
        _leave_out(plan, name, f"its contract value cannot be read yet: {problem}")


def _leave_out(plan, name, reason):
    left = (protocol.trades_subscription(name), protocol.book_subscription(name))
    for key, subscription in list(plan.subscriptions.items()):
        if subscription in left:
            del plan.subscriptions[key]
    plan.trades.pop(name, None)
    plan.books.pop(name, None)
    plan.unsupported.append(f"{protocol.NAME}/{'/'.join(pair_of(name))} (trades and book: {reason})")


def _trades(rows, name, ct_val):
    """The rows as TradeUpdate, oldest first; a bad row (OKX's ids are integers: paging needs them) is counted
    and skipped, as a bad push would be."""
    trades = []
    for row in rows:
        try:
            update = trade(row, name, ct_val)
        except MalformedFrame:
            update = None
        if update is None or not update.trade_id.isdigit():
            MESSAGES_RECEIVED.labels(protocol.NAME, "malformed").inc()
            continue
        trades.append(update)
    return sorted(trades, key=lambda t: (t.time_us, int(t.trade_id)))


def recent_trades(name, *, url=None, budget=None):
    """The newest trades of ``name`` (at most 500, OKX's ``/api/v5/market/trades``) as TradeUpdate, oldest first.

    A stream reads them after a connect for the series no read-back window
    can cover (``trade_pages`` needs the last trade seen before the connect):
    after a collector starts, every series; after a reconnect, those that had
    not traded yet. They also give each series its last trade, so the next
    reconnect's window is exact. On their own they would lose trades: an
    outage on a busy pair easily outlasts 500 (the write path stores each
    trade once, so the overlap with the pushes is harmless).
    """
    ct_val = contract_value(name)
    params = {"instId": name, "limit": protocol.MAX_RECENT_TRADES}
    rows = get(protocol.RECENT_TRADES_PATH, params, RECENT_TRADES_WEIGHT, url=url, budget=budget)
    return _trades(rows, name, ct_val)


def trade_pages(name, start_ms, end_ms, *, url=None, budget=None, limit=protocol.MAX_HISTORY_TRADES):
    """Yield lists of TradeUpdate with times in ``[start_ms, end_ms)``: each list ascending, the newest list first.

    ``GET /api/v5/market/history-trades`` pages backwards only. The first page
    is asked by time (``type=2``, ``after=end_ms``: the newest trades before
    the window ends), every later one by trade id (``type=1``, ``after`` = the
    oldest id so far): trades sharing a millisecond across a page boundary are
    then neither skipped nor read twice, as paging by time would risk. It
    stops at the first page reaching before ``start_ms`` or a short page (the
    start of what OKX keeps, three months). Each page is paid from
    ``budget`` (``HISTORY_TRADES_WEIGHT``); a swap's contracts become coins
    (``ctVal``, read by ``prepare_stream``).
    """
    try:
        ct_val = contract_value(name)
    except MalformedFrame as error:
        raise HistoryError(str(error)) from None
    params, cursor = {"instId": name, "type": protocol.PAGE_BY_TIME, "after": end_ms, "limit": limit}, None
    while True:
        rows = get(protocol.HISTORY_TRADES_PATH, params, protocol.HISTORY_TRADES_WEIGHT, url=url, budget=budget)
        trades = _trades(rows, name, ct_val)
        inside = [t for t in trades if start_ms * 1000 <= t.time_us < end_ms * 1000]
        if inside:
            yield inside
        if len(rows) < limit or (trades and trades[0].time_us < start_ms * 1000):
            return
        oldest = min((int(t.trade_id) for t in trades), default=None)
        if oldest is None or (cursor is not None and oldest >= cursor):
            raise HistoryError(f"{protocol.HISTORY_TRADES_PATH}: a full page of {name} that pages nowhere")
        cursor = oldest
        params = {"instId": name, "type": protocol.PAGE_BY_TRADE_ID, "after": cursor, "limit": limit}
