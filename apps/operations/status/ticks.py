"""Trades and order books of the pairs that collect them: trades stored in the last minute, each book's sync state.

Both come from Redis (apps.marketdata.trade_counts, the books' state hash of
apps.marketdata.live_books): one query for the pairs switched on, two Redis
calls, never a scan of the trades or snapshot tables, so the status stays
cheap however large they grow. A book out of sync (being rebuilt), not
refreshed for KIRBY_BOOK_STALE_SECONDS (``live_books.stale_for``: the API no
longer serves it) or never published is amber; a quiet minute without
trades is not judged (markets have them).
"""

from django.db.models import Q

from apps.marketdata import live_books, trade_counts
from apps.markets.models import TradingPair
from apps.operations.status.judge import AMBER, GREEN, duration, verdict
from lib.metrics import set_tick_state


def _pairs():
    return list(
        TradingPair.objects.filter(Q(collect_trades=True) | Q(collect_orderbook=True), active=True)
        .select_related("exchange", "coin", "quote", "market_type")
        .order_by("id")
    )


def _path(pair):
    return f"{pair.exchange.name}/{pair.coin.symbol}/{pair.quote.symbol}/{pair.market_type.name}"


def _judge_book(state, now):
    if state is None:
        return verdict(AMBER, "no book published")
    if not state["in_sync"]:
        return verdict(AMBER, f"book out of sync: {state['reason'] or 'rebuilding'}")
    age = live_books.stale_for(state, now)
    if age is not None:
        return verdict(AMBER, f"book not refreshed for {duration(age)}")
    return verdict(GREEN, "book in sync")


def tick_section(now):
    """[{id, name, trades, trades_last_minute, orderbook, book_in_sync, book_reason, book_time, book_age_seconds,
    state, reason}], by trading pair id, for the active pairs collecting trades or books."""
    pairs = _pairs()
    if not pairs:
        return []
    counts = trade_counts.stored_last_minute([p.id for p in pairs if p.collect_trades], now=now)
    states = live_books.book_states([_path(p) for p in pairs if p.collect_orderbook])
    section = []
    for pair in pairs:
        name = _path(pair)
        book = states.get(name.lower()) if pair.collect_orderbook else None
        judged = _judge_book(book, now) if pair.collect_orderbook else verdict(GREEN)
        if judged["state"] == GREEN:
            trades = f"{counts[pair.id]} trades stored in the last minute" if pair.collect_trades else ""
            judged = verdict(GREEN, "; ".join(part for part in (trades, judged["reason"]) if part))
        section.append(
            {
                "id": pair.id,
                "name": name,
                "trades": pair.collect_trades,
                "trades_last_minute": counts.get(pair.id) if pair.collect_trades else None,
                "orderbook": pair.collect_orderbook,
                "book_in_sync": None if book is None else book["in_sync"],
                "book_reason": None if book is None else book["reason"],
                "book_time": None if book is None else book["time"],
                "book_age_seconds": None if book is None else round(max(0.0, now - book["published_at"]), 1),
                **judged,
            }
        )
    return section


def refresh_tick_metrics(now):
    """Set ``kirby_trades_stored_last_minute`` and ``kirby_orderbooks_not_in_sync`` per exchange (/metrics, per
    scrape: as cheap as the section)."""
    trades, books = {}, {}
    for item in tick_section(now):
        exchange = item["name"].split("/", 1)[0]
        if item["trades"]:
            trades[exchange] = trades.get(exchange, 0) + item["trades_last_minute"]
        if item["orderbook"]:
            books[exchange] = books.get(exchange, 0) + (item["state"] != GREEN)
    set_tick_state(trades, books)
