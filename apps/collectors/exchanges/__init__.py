"""Exchange adapters: one package per exchange with the same modules, and the interface they implement.

Nothing outside an adapter's folder knows an exchange: the live streams
(apps.collectors.stream, plan), the history engine (apps.backfill.sources)
and the simulator's clients call these functions only.

``protocol``
    ``NAME``; ``LIVE`` (false: history only, no stream is ever started);
    ``INTERVALS`` (Kirby interval names the venue serves).
    ``endpoint(name)``: which of the venue's WebSocket endpoints serves the
    series ``name`` (``""`` when there is one); streams are planned per endpoint.
    Optional ``candle_endpoint(name)``: where candles are served when apart
    from the rest (OKX's business endpoint); optional ``book_endpoint(name)``:
    where books are (Binance USD-M's ``/public`` route).
    ``ws_url(endpoint)``; ``subscriptions_per_connection()``.
    ``candle_subscription(name, interval)``, ``context_subscription(name)``:
    JSON-able values naming one subscription.
    ``subscribe_frames(subscriptions)`` / ``unsubscribe_frames(...)``: the text
    frames that (un)subscribe a list of them (batched as the venue allows).
    ``messages_per_second(endpoint)``: client messages a connection may send
    per second (the stream paces its frames), or None.
    ``ping_frame()``: the client's keepalive frame every
    KIRBY_COLLECTOR_PING_SECONDS, or None when the server pings.
    ``connection_seconds()``: replace a connection (overlapping, no gap) this
    long after it opened, or None (no maximum age).
    ``poll_seconds()``: how often ``history.poll_context`` runs per context
    series (what the venue does not stream), or None.
``parser``
    ``parse_frame(raw, endpoint)`` -> list of events (apps.collectors.exchanges.events:
    CandleUpdate with the venue's closed flag or None, AssetContext,
    FundingUpdate, OpenInterestUpdate, MarkPrice, Control); MalformedFrame for anything
    unexpected (the stream counts it, samples it in the log and skips it).
    Optional ``connection_parser(endpoint, wanted)`` -> a ``parse(raw)``
    function for one connection, for a venue whose frames build on earlier
    ones: Bybit's ticker deltas; Coinbase builds candles from trades and
    checks ``sequence_num``. The stream makes one per connection and uses it
    instead of ``parse_frame``; ``wanted()`` gives the plan's (series,
    interval) keys. It may return BuiltCandle (a candle Kirby built: the
    stream stores it open, and once closed checks it against
    ``history.candle_pages`` before storing it final, apps.collectors.reconcile)
    and Control ``resync`` (messages were lost: the stream reconnects and
    repairs). One that also takes ``plan`` is given ``plan()``, the stream's
    current plan (Coinbase: which products' trades are stored, which books kept).
``symbols``
    ``coin_name(coin, quote, market_type)`` -> the adapter's series name;
    ``has_asset_context(market_type)``: funding and open interest exist.
``history``
    ``candle_pages``, ``earliest_candle_ms``, ``funding_pages``,
    ``earliest_funding_ms``, ``RateLimited`` (see apps.backfill.sources); optional
    ``open_interest_pages`` / ``earliest_open_interest_ms`` /
    ``OPEN_INTEREST_PERIOD`` where the venue keeps open-interest history, and
    ``poll_context(name, budget=)`` when ``protocol.poll_seconds()`` is set.
    Every REST call is paid from the ``budget`` handed in (lib.budget).

Trades and books (optional; a pair switched on where they are missing is listed as unsupported):
``protocol.trades_subscription(name)`` / ``protocol.book_subscription(name)``; the parser's
TradeUpdate, BookSnapshot and BookDelta events; a ``book`` module with ``new_book(name)`` (a
apps.collectors.orderbook.SyncedBook under the venue's sequence rule) and ``COMPLETE_SNAPSHOTS``
(true: each snapshot is the whole book; false: deltas bridge and follow a REST snapshot); ``RESYNC``:
how a new or broken book gets its next snapshot: ``"rest"`` (the stream calls
``history.book_snapshot(name, budget=)`` -> BookSnapshot, paid from the venue's REST budget),
``"resubscribe"`` (the stream unsubscribes and subscribes the book again; the venue pushes a
snapshot) or ``"wait"`` (every push is a whole snapshot). Optional ``history.trade_pages(name, start_ms,
end_ms, budget=)``: the trades of a window read back from REST after a reconnect (Binance, OKX;
apps.collectors.trade_gaps). Optional ``history.recent_trades(name, budget=)``: the venue's newest trades
over REST, read after each connect for a venue that does not replay them on subscribe (Bybit), or, beside
``trade_pages``, only for the series no window covers (OKX). Optional ``history.prepare_stream(plan,
budget=)``: REST facts the parser needs, read whenever a stream reads its plan (OKX's contract values).
"""

import importlib
import importlib.util
from types import SimpleNamespace

EXCHANGES = ("hyperliquid", "binance", "bybit", "okx", "coinbase")


def get_adapter(name):
    """The adapter of exchange ``name`` as one object with its modules' functions."""
    if name not in EXCHANGES:
        raise LookupError(f"no adapter for exchange {name!r}; known: {', '.join(EXCHANGES)}")
    package = f"apps.collectors.exchanges.{name}"
    return SimpleNamespace(
        name=name,
        protocol=importlib.import_module(f"{package}.protocol"),
        parser=importlib.import_module(f"{package}.parser"),
        symbols=importlib.import_module(f"{package}.symbols"),
        history=importlib.import_module(f"{package}.history"),
        book=importlib.import_module(f"{package}.book") if importlib.util.find_spec(f"{package}.book") else None,
    )


def is_live(name):
    return getattr(importlib.import_module(f"apps.collectors.exchanges.{name}.protocol"), "LIVE", True)


# Exchanges with a live stream (supervise_streams starts streams for these only).
LIVE_EXCHANGES = tuple(name for name in EXCHANGES if is_live(name))
