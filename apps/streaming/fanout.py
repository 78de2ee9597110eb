"""Live fan-out: rows the writer committed become one group message per row.

Connected to ``apps.marketdata.writer.market_data_written``, which the
writer sends after commit and only for writes made with ``publish=True``:
history fetched for a new series or on request (``publish=False``) never
reaches live subscribers (the reconnect repair and gap-repair jobs do), and
nothing is announced that a rollback could take back. Runs in the writer's thread;
failures are logged and never reach the write path.
"""

import logging
import operator

from apps.marketdata.tables import CANDLES, FUNDING, OPEN_INTEREST, TRADES
from apps.streaming import groups, series

log = logging.getLogger(__name__)

_PAIR_CHANNEL = {FUNDING.name: groups.FUNDING, OPEN_INTEREST.name: groups.OPEN_INTEREST}


def publish_written_rows(sender, rows, using="default", **kwargs):
    try:
        groups.send_to_groups(group_messages(sender, rows, using))
    except Exception:
        log.exception("could not publish %d %s row(s) to WebSocket subscribers", len(rows), sender)


def group_messages(table, rows, using="default"):
    """``[(group, message), ...]`` in row order for rows of ``table`` (records of that table)."""
    if not rows:
        return []
    if table == TRADES.name:  # sorted there, by pair, time and trade id
        return _trade_messages(rows, using)
    # Clients expect each series in time order; the writer returns rows in the order they came.
    rows = sorted(rows, key=_series_and_time)
    if table == CANDLES.name:
        return _candle_messages(rows, using)
    if table in _PAIR_CHANNEL:
        return _pair_messages(_PAIR_CHANNEL[table], rows, using)
    return []


def _series_and_time(row):
    return row[0], row[1]


def _trade_messages(rows, using):
    """One message per pair for the whole write: a batch of trades, not a frame per trade."""
    pairs = {row[0] for row in rows}
    by_pair = series.starlistings_of_pairs(pairs, using=using)
    told = {pair for pair in pairs if by_pair.get(pair)}
    if len(told) < len(pairs):  # a pair without a starlisting has nobody to tell: no items to build
        rows = [row for row in rows if row[0] in told]
    of_pair = {}
    for row in rows:
        of_pair.setdefault(row[0], []).append(row)
    messages = []
    for pair_id in sorted(of_pair):
        members = by_pair.get(pair_id)
        if members:
            batch = groups.trade_items(_in_trade_order(of_pair[pair_id]))
            texts = [[member.id, groups.trades_text(member, batch)] for member in members]
            group = groups.pair_group(pair_id)
            messages.append((group, groups.push(group, groups.TRADES, texts)))
    return messages


def _in_trade_order(rows):
    """One pair's trades by time, then trade id as a number would sort. With every id of one length (the
    usual batch) that is the rows' own order as tuples (one pair, then time, then id): sorted without a
    key made per trade."""
    if len(set(map(len, map(operator.itemgetter(2), rows)))) == 1:
        return sorted(rows)
    return sorted(rows, key=lambda r: (r[1], len(r[2]), r[2]))  # by position: faster than by name


def _candle_messages(rows, using):
    known = series.starlistings({row.starlisting_id for row in rows}, using=using)
    messages = []
    for row in rows:
        found = known.get(row.starlisting_id)
        if found is not None:
            text = groups.live_text(groups.CANDLES, found, groups.item(groups.CANDLES, row))
            group = groups.candle_group(found.id)
            messages.append((group, groups.push(group, groups.CANDLES, [[found.id, text]])))
    return messages


def _pair_messages(channel, rows, using):
    by_pair = series.starlistings_of_pairs({row.trading_pair_id for row in rows}, using=using)
    messages = []
    for row in rows:
        members = by_pair.get(row.trading_pair_id)
        if members:
            data = groups.item(channel, row)
            texts = [[member.id, groups.live_text(channel, member, data)] for member in members]
            group = groups.pair_group(row.trading_pair_id)
            messages.append((group, groups.push(group, channel, texts)))
    return messages
