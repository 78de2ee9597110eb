"""Trades throughput: trades parsed and stored per second by one collector process, against the send rate.

A flood of trades of 20 coins (Hyperliquid ``trades``, one fill to a frame;
Binance spot ``aggTrade``) is sent over a real WebSocket by
``bench/frame_sender.py`` (frames pre-rendered to their bytes before the
clock starts, in a process of its own, so the sender is not what limits the
rate), ids running on from one flood to the next, so every trade is new.
Baseline: a no-op consumer (a bare aiohttp client that only counts frames)
reading the same flood: the send rate a client can be fed at here. Kirby:
the real stream (parse, TradeRecord per pair, batching) and batcher (the one
write path, ``write_trades``, into PostgreSQL) in one process; the clock
stops when every frame has been received and the last batch is committed,
and every trade must then be in the ``trades`` table, once. Targets: at
least 50,000 trades/s stored, and at least half the send rate. No HTTP
request is made and no exchange REST either (trades need no history).

    .venv/bin/python bench/trades_throughput.py [--trades 20000] [--coins 20] [--venues hyperliquid,binance]
"""

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.collector_throughput import (  # noqa: E402
    BENCH_REDIS_URL,
    StreamRun,
    Venue,
    bare_consumer,
    empty_spool,
    start_sender,
)
from bench.figures import figure  # noqa: E402

RATE_TARGET, RATIO_TARGET = 50_000, 0.5
VENUES = {
    "hyperliquid": Venue(
        "Hyperliquid", "hyperliquid", "/ws", '"trades"',
        lambda coins: [{"method": "subscribe", "subscription": {"type": "trades", "coin": c}} for c in coins],
    ),
    "binance": Venue(
        "Binance spot", "binance", "/stream", '"aggTrade"',
        lambda coins: [{"method": "SUBSCRIBE", "params": [f"{c.lower()}usdt@aggTrade" for c in coins], "id": 1}],
    ),
}  # fmt: skip


def kirby_stream(venue, sender, coins, trades, pair_ids):
    run = StreamRun(venue, coins)
    received, elapsed = run.timed_flood(sender, venue, coins, trades, kind="trades")
    written = run.close()
    return received, elapsed, stored_trades(pair_ids), written


def stored_trades(pair_ids):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT (trading_pair_id, trade_id)) FROM trades"
                       " WHERE trading_pair_id = ANY(%s)", [pair_ids])  # fmt: skip
        return cursor.fetchone()


def ensure_pairs(venue, coins):
    """Only ``coins`` active on the venue's exchange, trades collected, no candles; their old trades deleted."""
    from django.db import connection

    from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

    exchange, _ = Exchange.objects.update_or_create(
        name=venue.adapter, defaults={"display_name": venue.name, "active": True}
    )
    quote, _ = QuoteCurrency.objects.get_or_create(
        symbol="USD" if venue.adapter == "hyperliquid" else "USDT", defaults={"name": "quote"}
    )
    name = "perps" if venue.adapter == "hyperliquid" else "spot"
    market_type, _ = MarketType.objects.get_or_create(name=name, defaults={"display_name": name})
    TradingPair.objects.filter(exchange=exchange).update(active=False)
    Starlisting.objects.filter(trading_pair__exchange=exchange).update(active=False)
    minute = Interval.objects.get(name="1m")
    pair_ids = []
    for symbol in coins:
        coin, _ = Coin.objects.get_or_create(symbol=symbol)
        pair, _ = TradingPair.objects.update_or_create(
            exchange=exchange, coin=coin, quote=quote, market_type=market_type,
            defaults={"active": True, "collect_trades": True, "collect_orderbook": False},
        )  # fmt: skip
        # As in production, the pair has a starlisting (inactive: no candle subscription competes), so each
        # write is announced to the pair's ``trades`` WebSocket group.
        Starlisting.objects.get_or_create(trading_pair=pair, interval=minute, defaults={"active": False})
        pair_ids.append(pair.id)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM trades WHERE trading_pair_id = ANY(%s)", [pair_ids])
    return pair_ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=20_000, help="trades per coin")
    parser.add_argument("--coins", type=int, default=20)
    parser.add_argument("--venues", default=",".join(VENUES), help="comma-separated: " + ", ".join(VENUES))
    args = parser.parse_args()
    coins = [f"TRADES{i:02d}" for i in range(args.coins)]
    venues = [VENUES[name] for name in args.venues.split(",")]

    sender_process, sender_port = start_sender()
    sender, frames = f"http://127.0.0.1:{sender_port}", f"ws://127.0.0.1:{sender_port}"
    # REST goes to the sender too, which answers none: nothing in this bench may need the venue's REST.
    os.environ.update(KIRBY_HYPERLIQUID_WS_URL=f"{frames}/ws", KIRBY_HYPERLIQUID_REST_URL=f"{sender}/info",
                      KIRBY_BINANCE_SPOT_WS_URL=f"{frames}/stream", KIRBY_BINANCE_SPOT_REST_URL=sender,
                      KIRBY_COLLECTOR_PING_SECONDS="5", KIRBY_COLLECTOR_QUIET_SECONDS="120",
                      REDIS_URL=BENCH_REDIS_URL)  # fmt: skip
    common.setup()
    from apps.marketdata.records import TradeRecord

    empty_spool(TradeRecord)
    from apps.collectors.gc_tuning import tune_for_streaming

    tune_for_streaming()  # as the collector's run_stream does; before the baseline too, which reads the same way
    try:
        total = args.trades * len(coins)
        for venue in venues:
            pair_ids = ensure_pairs(venue, coins)
            print(f"trades throughput, {venue.name}: {len(coins)} coins x {args.trades:,} trades = {total:,}")
            received, seconds = asyncio.run(bare_consumer(venue, sender, coins, args.trades, kind="trades"))
            baseline = common.rate(received, seconds)
            print(f"  no-op consumer (the send rate)   {received:>9,} in {seconds:6.2f} s = {baseline:>9,.0f} /s")
            received, seconds, (rows, distinct), written = kirby_stream(venue, sender, coins, args.trades, pair_ids)
            if rows != total or distinct != total or written != total:
                raise SystemExit(f"expected {total:,} trades stored once: {rows:,} rows, {distinct:,} distinct,"
                                 f" {written:,} written")  # fmt: skip
            kirby = common.rate(total, seconds)
            print(f"  Kirby stream, parsed and stored  {total:>9,} in {seconds:6.2f} s = {kirby:>9,.0f} /s")
            print(
                f"  ratio Kirby / no-op consumer: {kirby / baseline:.2f}   target: >= {RATE_TARGET:,} trades/s stored"
            )
            figure(
                "trades_throughput", f"{venue.name} trades parsed and stored, {len(coins)} coins, one process", kirby,
                "trades/s", baseline=baseline, baseline_name="no-op consumer", target=(">=", RATE_TARGET), on="value",
            )  # fmt: skip
            figure(
                "trades_throughput", f"{venue.name} trades: stored / send rate", kirby, "trades/s",
                baseline=baseline, baseline_name="no-op consumer", target=(">=", RATIO_TARGET),
            )  # fmt: skip
    finally:
        sender_process.terminate()
        sender_process.wait(10)


if __name__ == "__main__":
    main()
