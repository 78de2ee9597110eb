"""Live fan-out: rows the writer committed become one group message per row.

Connected to ``apps.marketdata.writer.market_data_written``, which the
writer sends after commit and only for writes made with ``publish=True``:
history fetched for a new series or on request (``publish=False``) never
reaches live subscribers (the reconnect repair and gap-repair jobs do), and
nothing is announced that a rollback could take back. Runs in the writer's thread;
failures are logged and never reach the write path.
"""

import logging

from apps.marketdata import trade_lines
from apps.marketdata.tables import CANDLES, FUNDING, OPEN_INTEREST, TRADES
from apps.streaming import groups, series

log = logging.getLogger(__name__)

_PAIR_CHANNEL = {FUNDING.name: groups.FUNDING, OPEN_INTEREST.name: groups.OPEN_INTEREST}


def publish_written_rows(sender, rows, using="default", copy_texts=None, **kwargs):
    try:
        groups.send_to_groups(group_messages(sender, rows, using, copy_texts))
    except Exception:
        log.exception("could not publish %d %s row(s) to WebSocket subscribers", len(rows), sender)


def group_messages(table, rows, using="default", copy_texts=None):
    """``[(group, message), ...]`` in row order for rows of ``table`` (records of that table); trades as the
    writer's COPY text of each pair when it gives it (``copy_texts``), else spelled here the same way."""
    if not rows:
        return []
    if table == TRADES.name:
        return _trade_messages(copy_texts or trade_lines.copy_texts(trade_lines.by_pair(rows)), using)
    # Clients expect each series in time order; the writer returns rows in the order they came.
    rows = sorted(rows, key=_series_and_time)
    if table == CANDLES.name:
        return _candle_messages(rows, using)
    if table in _PAIR_CHANNEL:
        return _pair_messages(_PAIR_CHANNEL[table], rows, using)
    return []


def _series_and_time(row):
    return row[0], row[1]


def _trade_messages(texts, using):
    """One message per pair for the whole write, a batch of trades, not a frame per trade: its COPY text
    (``texts``: by pair), which each server process renders once for its clients (groups.rendered)."""
    by_pair = series.starlistings_of_pairs(set(texts), using=using)
    messages = []
    for pair_id in sorted(texts):
        members = by_pair.get(pair_id)
        if members:  # a pair without a starlisting has nobody to tell
            text = texts[pair_id]
            heads = [[member.id, groups.trades_head(member, text.count("\n"))] for member in members]
            group = groups.pair_group(pair_id)
            messages.append((group, groups.trades_push(group, heads, text)))
    return messages


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
