"""Trades and order books: trades stored per second through the write path, book level updates applied per second.

    .venv/bin/python bench/ticks.py

Trades: ``write_trades`` stores 1,000,000 trades of one pair (ten to a
millisecond, integer ids as Binance and Hyperliquid give them) in batches of
5,000, as the collector's batcher flushes them; the baseline is a plain
psycopg COPY of the same records into an unindexed, unpartitioned table, in
the same run (target: at least 0.5 of it, and 50,000 trades/s). The disk
the trades take (table and index, per million) is printed too. Books: the
level updates of a chain of USD-M diff-depth events applied through
``SyncedBook`` (sequence checked on every event), against plain dict
assignments of the same updates (target: 200,000 level updates/s). The
same updates through the stream's path: each event as the venue's
``depthUpdate`` frame text, parsed by the Binance parser and fed to the
stream's BookKeeper (sequence checked, the book published to the bench's
Redis at most 5 times a second and a top-20 snapshot handed to the store
every second, as the collector does), against the same dict baseline
(target: 200,000 level updates/s). The same for Bybit, OKX (spot, sizes
in the coin), Coinbase and Hyperliquid: the first ``--venue-book-events``
events as each venue's own book frames with its sequence fields, through its
parser and the BookKeeper (Hyperliquid: whole tops of 20 levels a side, as
many level updates). Book
disk: ``write_orderbooks`` stores snapshots of one pair at depth 20 (20
levels a side, one a second) into a day of their own; the bytes per snapshot
(table and primary key) and per day at one a second are printed.
Runs against the bench database only and removes its rows afterwards.
"""

import argparse
import gc
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.collector_throughput import BENCH_REDIS_URL  # noqa: E402
from bench.figures import figure  # noqa: E402

DAY = datetime(2019, 2, 1, tzinfo=UTC)  # one daily partition no other bench uses
BOOK_DAY = datetime(2019, 2, 2, tzinfo=UTC)  # the books' own day
BOOK_DEPTH = 20
BASELINE_TABLE = "bench_trades_copy_baseline"
BATCH = 5000
TRADES_TARGET, TRADES_RATE_TARGET, BOOK_TARGET = 0.5, 50_000, 200_000
VENUES = ("bybit", "okx", "coinbase", "hyperliquid")  # Binance's frames are the main figure


def make_trades(pair_id, count, seed=15):
    from apps.marketdata.records import TradeRecord

    rng = random.Random(seed)
    prices = [Decimal(97000 + cents / 10) for cents in range(-500, 500)]
    sizes = [Decimal(units).scaleb(-5) for units in range(1, 2000)]
    return [
        TradeRecord(pair_id, DAY + timedelta(milliseconds=n // 10), str(5_000_000_000 + n), rng.choice(prices),
                    rng.choice(sizes), "buy" if rng.random() < 0.5 else "sell")
        for n in range(count)
    ]  # fmt: skip


def make_books(pair_id, count, seed=17):
    """One snapshot a second at depth 20: prices a tenth apart near 97,000, sizes of up to 5 decimals."""
    from apps.marketdata.records import OrderBookRecord

    rng = random.Random(seed)
    books = []
    for n in range(count):
        mid = 970_000 + rng.randrange(-200, 200)
        bids = [[str(Decimal(mid - 1 - i).scaleb(-1)), str(Decimal(rng.randrange(1, 500_000)).scaleb(-5))]
                for i in range(BOOK_DEPTH)]  # fmt: skip
        asks = [[str(Decimal(mid + i).scaleb(-1)), str(Decimal(rng.randrange(1, 500_000)).scaleb(-5))]
                for i in range(BOOK_DEPTH)]  # fmt: skip
        books.append(OrderBookRecord(pair_id, BOOK_DAY + timedelta(seconds=n), 1_000_000 + n, bids, asks))
    return books


def book_bytes_per_snapshot(pair_id, count):
    """Bytes one stored depth-20 snapshot takes (its day's partition, table and primary key, over ``count``)."""
    from django.db import connection

    from apps.marketdata.partitions import partition_name
    from apps.marketdata.writer import write_orderbooks

    books = make_books(pair_id, count)
    stored = sum(write_orderbooks(books[i : i + BATCH], exchange="bench").inserted for i in range(0, count, BATCH))
    if stored != count:
        raise SystemExit(f"stored {stored} of {count} book snapshots")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE orderbook_snapshots")  # the visibility map and statistics, as in production
        cursor.execute("SELECT pg_total_relation_size(%s)", [partition_name("orderbook_snapshots", BOOK_DAY)])
        return cursor.fetchone()[0] / count


def drop_partition():
    from django.db import connection

    from apps.marketdata.partitions import forget_partitions, partition_name

    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{partition_name("trades", DAY)}"')
        cursor.execute(f'DROP TABLE IF EXISTS "{partition_name("orderbook_snapshots", BOOK_DAY)}"')
        cursor.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
    forget_partitions()


def plain_copy(records):
    from django.db import connection

    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        cursor.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        cursor.execute(
            f"CREATE TABLE {BASELINE_TABLE} (trading_pair_id bigint, time timestamptz, trade_id text,"
            " price numeric, size numeric, side text)"
        )
        started = time.perf_counter()
        with cursor.copy(f"COPY {BASELINE_TABLE} FROM STDIN") as copy:
            for record in records:
                copy.write_row(record)
        seconds = time.perf_counter() - started
        cursor.execute(f"DROP TABLE {BASELINE_TABLE}")
    return seconds


def store(records):
    from apps.marketdata.writer import write_trades

    inserted = 0
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        inserted += write_trades(records[start : start + BATCH], exchange="bench").inserted
    return time.perf_counter() - started, inserted


def disk_bytes():
    from django.db import connection

    from apps.marketdata.partitions import partition_name

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [partition_name("trades", DAY)])
        return cursor.fetchone()[0]


def book_events(count, seed=16):
    """A chain of USD-M depth events around a mid price, 10 level updates each; sizes 0 remove levels."""
    from apps.collectors.exchanges.events import BookDelta, BookSnapshot

    rng = random.Random(seed)
    ticks = [Decimal(9700000 + i).scaleb(-2) for i in range(-2000, 2000)]
    mid = len(ticks) // 2
    snapshot = BookSnapshot("usdm:X", 0, 100, [(ticks[mid - 1 - i], Decimal(1)) for i in range(1000)],
                            [(ticks[mid + i], Decimal(1)) for i in range(1000)])  # fmt: skip
    sizes = [Decimal(0), *(Decimal(units).scaleb(-3) for units in range(1, 500))]
    events, last = [], 100
    for n in range(count):
        bids = [(ticks[mid - 1 - rng.randrange(1000)], rng.choice(sizes)) for _ in range(5)]
        asks = [(ticks[mid + rng.randrange(1000)], rng.choice(sizes)) for _ in range(5)]
        first = last + 1 if n else 100
        events.append(BookDelta("usdm:X", n, first, first + 3, last, bids, asks))
        last = first + 3
    return snapshot, events


def apply_book(snapshot, events):
    from apps.collectors.exchanges.binance.book import usdm_book

    book = usdm_book("bench")
    book.snapshot(snapshot)
    started = time.perf_counter()
    applied = sum(book.delta(event) for event in events)
    seconds = time.perf_counter() - started
    assert book.in_sync and book.breaks == 0, book.reason
    return seconds, applied


def depth_frames(events):
    """The events as USD-M ``depthUpdate`` frames (the symbol X), the text a stream receives."""
    import orjson

    return [
        orjson.dumps({"stream": "x@depth@100ms", "data": {
            "e": "depthUpdate", "E": 1_700_000_000_000 + n, "T": 1_700_000_000_000 + n, "s": "X", "U": e.first,
            "u": e.last, "pu": e.previous, "b": [[str(p), str(q)] for p, q in e.bids],
            "a": [[str(p), str(q)] for p, q in e.asks]}}).decode()
        for n, e in enumerate(events)
    ]  # fmt: skip


def apply_stream(snapshot, frames, pair_id):
    """Frames through the Binance parser and the stream's BookKeeper; (seconds, level updates, snapshots stored)."""
    from apps.collectors.books import BookKeeper
    from apps.collectors.exchanges import get_adapter
    from apps.collectors.exchanges.binance.parser import parse_frame
    from apps.collectors.plan import BookRoute
    from apps.marketdata import live_books

    stored = []
    keeper = BookKeeper(get_adapter("binance"), stored.extend, redis=live_books.client())
    routes = [BookRoute(pair_id, ("benchbook", "X", "USDT", "perps"), 20, 1.0)]
    keeper.feed(snapshot, routes)
    before = keeper.updates_applied
    started = time.perf_counter()
    for raw in frames:
        for event in parse_frame(raw, "usdm"):
            keeper.feed(event, routes)
    seconds = time.perf_counter() - started
    book = keeper.states["usdm:X"].book
    assert book.in_sync and book.breaks == 0, book.reason
    return seconds, keeper.updates_applied - before, len(stored)


def _texts(levels):
    return [[str(price), str(size)] for price, size in levels]


def venue_frames(venue, snapshot, events):
    """(series name, its starting snapshot, frames before the timing, the frames timed, parse) of ``venue``.

    The same level updates as the Binance chain, as the venue's own book frames with its sequence fields;
    the snapshot starts each book in sync (Coinbase's goes through the parser: its deltas chain on the
    connection's message numbers). Hyperliquid sends no deltas: its frames are whole tops of 20 levels a side.
    """
    import orjson

    from apps.collectors.exchanges.bybit.parser import Parser as BybitParser
    from apps.collectors.exchanges.coinbase.parser import TradeCandles
    from apps.collectors.exchanges.hyperliquid.parser import parse_frame as hyperliquid_frame
    from apps.collectors.exchanges.okx.parser import parse_frame as okx_frame

    ms = 1_700_000_000_000
    if venue == "bybit":
        frames = [orjson.dumps({"topic": "orderbook.200.X", "type": "delta", "ts": ms + n, "cts": ms + n, "data": {
            "s": "X", "b": _texts(e.bids), "a": _texts(e.asks), "u": 101 + n, "seq": 101 + n}}).decode()
                  for n, e in enumerate(events)]  # fmt: skip
        return "linear:X", snapshot._replace(coin="linear:X"), [], frames, BybitParser().feed
    if venue == "okx":
        frames = [orjson.dumps({"arg": {"channel": "books", "instId": "X-USDT"}, "action": "update", "data": [{
            "asks": [[*level, "0", "1"] for level in _texts(e.asks)],
            "bids": [[*level, "0", "1"] for level in _texts(e.bids)],
            "ts": str(ms + n), "checksum": 0, "prevSeqId": 100 + n, "seqId": 101 + n}]}).decode()
                  for n, e in enumerate(events)]  # fmt: skip
        return "X-USDT", snapshot._replace(coin="X-USDT"), [], frames, lambda raw: okx_frame(raw, "public")

    def l2_data(n, kind, bids, asks):
        stamp = datetime.fromtimestamp((ms + n) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        updates = [{"side": side, "event_time": stamp, "price_level": price, "new_quantity": size}
                   for side, levels in (("bid", bids), ("offer", asks)) for price, size in _texts(levels)]  # fmt: skip
        events = [{"type": kind, "product_id": "X-USD", "updates": updates}]
        return orjson.dumps({"channel": "l2_data", "client_id": "", "timestamp": stamp, "sequence_num": n,
                             "events": events}).decode()  # fmt: skip

    if venue == "coinbase":
        start = [l2_data(0, "snapshot", snapshot.bids, snapshot.asks)]
        frames = [l2_data(1 + n, "update", e.bids, e.asks) for n, e in enumerate(events)]
        return "X-USD", None, start, frames, TradeCandles(lambda: (), grace_ms=0).feed
    if venue == "hyperliquid":
        rng, frames = random.Random(18), []
        ticks = sorted({price for e in events for price, _ in e.bids + e.asks})
        middle = len(ticks) // 2
        for n in range(len(events) // 4):  # 40 levels a frame: as many level updates as the other venues
            shift = rng.randrange(-20, 20)
            sides = [[{"px": str(ticks[middle + shift - 1 - i]), "sz": str(rng.randrange(1, 5000)), "n": 1}
                      for i in range(20)],
                     [{"px": str(ticks[middle + shift + i]), "sz": str(rng.randrange(1, 5000)), "n": 1}
                      for i in range(20)]]  # fmt: skip
            frames.append(orjson.dumps({"channel": "l2Book", "data": {"coin": "X", "time": ms + n, "levels": sides}}))
        return "X", None, [], [frame.decode() for frame in frames], hyperliquid_frame
    raise ValueError(venue)


def apply_venue(venue, snapshot, events, pair_id):
    """``venue``'s book frames through its parser and the stream's BookKeeper; (seconds, level updates)."""
    from apps.collectors.books import BookKeeper
    from apps.collectors.exchanges import get_adapter
    from apps.collectors.plan import BookRoute
    from apps.marketdata import live_books

    name, start, before_frames, frames, parse = venue_frames(venue, snapshot, events)
    keeper = BookKeeper(get_adapter(venue), [].extend, redis=live_books.client())
    routes = [BookRoute(pair_id, (f"bench{venue}", "X", "USD", "perps"), 20, 1.0)]
    for event in [start] if start else [event for raw in before_frames for event in parse(raw)]:
        keeper.feed(event, routes)
    before = keeper.updates_applied
    started = time.perf_counter()
    for raw in frames:
        for event in parse(raw):
            keeper.feed(event, routes)
    seconds = time.perf_counter() - started
    book = keeper.states[name].book
    assert book.in_sync and book.breaks == 0, book.reason
    return seconds, keeper.updates_applied - before


def apply_dicts(snapshot, events):
    bids, asks = dict(snapshot.bids), dict(snapshot.asks)
    started = time.perf_counter()
    for event in events:
        for price, size in event.bids:
            bids[price] = size
        for price, size in event.asks:
            asks[price] = size
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--book-events", type=int, default=200_000)
    parser.add_argument("--book-snapshots", type=int, default=20_000)
    parser.add_argument("--venue-book-events", type=int, default=50_000, help="events per other venue")
    args = parser.parse_args()

    os.environ["REDIS_URL"] = BENCH_REDIS_URL  # the books are published to the bench's Redis database
    common.setup()
    pair_id = common.ensure_starlistings(1)[0]
    from apps.markets.models import Starlisting

    pair_id = Starlisting.objects.get(id=pair_id.id).trading_pair_id
    records = make_trades(pair_id, args.trades)
    gc.collect()
    gc.freeze()
    drop_partition()
    try:
        copy_seconds = [plain_copy(records)]
        stored_seconds, inserted = store(records)
        if inserted != len(records):
            raise SystemExit(f"stored {inserted} of {len(records)} trades")
        again_seconds, again = store(records)
        if again:
            raise SystemExit(f"a replay stored {again} trades twice")
        size = disk_bytes()
        copy_seconds.append(plain_copy(records))
        per_snapshot = book_bytes_per_snapshot(pair_id, args.book_snapshots)
    finally:
        drop_partition()
    baseline = sum(copy_seconds) / len(copy_seconds)
    trades_rate, copy_rate = common.rate(len(records), stored_seconds), common.rate(len(records), baseline)
    per_million = size * 1_000_000 / len(records)
    print(f"trades: {len(records):,} in batches of {BATCH:,}")
    print(f"  plain COPY, unindexed (baseline) {copy_rate:12,.0f} trades/s")
    print(f"  write_trades, new                {trades_rate:12,.0f} trades/s  ({trades_rate / copy_rate:.2f} x COPY)")
    print(
        f"  write_trades, replayed           {common.rate(len(records), again_seconds):12,.0f} trades/s (none stored)"
    )
    print(f"  disk: {per_million / 2**20:,.1f} MiB per million trades (table and primary key)")

    snapshot, events = book_events(args.book_events)
    book_seconds, applied = apply_book(snapshot, events)
    dict_seconds = apply_dicts(snapshot, events)
    book_rate, dict_rate = common.rate(applied, book_seconds), common.rate(applied, dict_seconds)
    print(f"books: {applied:,} level updates in {len(events):,} chained USD-M events")
    print(f"  plain dict assignments (baseline) {dict_rate:12,.0f} level updates/s")
    print(f"  SyncedBook, sequence checked      {book_rate:12,.0f} level updates/s  ({book_rate / dict_rate:.2f})")
    frames = depth_frames(events)
    stream_seconds, stream_applied, stored = apply_stream(snapshot, frames, pair_id)
    if stream_applied != applied:
        raise SystemExit(f"the stream path applied {stream_applied:,} level updates, SyncedBook {applied:,}")
    stream_rate = common.rate(stream_applied, stream_seconds)
    print(f"  parser + BookKeeper (stream path) {stream_rate:12,.0f} level updates/s  ({stream_rate / dict_rate:.2f});"
          f" {stored} snapshots stored")  # fmt: skip
    venue_rates = {}
    for venue in VENUES:
        venue_seconds, venue_applied = apply_venue(venue, snapshot, events[: args.venue_book_events], pair_id)
        venue_rates[venue] = common.rate(venue_applied, venue_seconds)
        print(f"  {venue + ', parser + BookKeeper':33} {venue_rates[venue]:12,.0f} level updates/s"
              f"  ({venue_rates[venue] / dict_rate:.2f})")  # fmt: skip
    per_day = per_snapshot * 86_400
    print(f"  disk: {per_snapshot:,.0f} bytes per snapshot at depth {BOOK_DEPTH} ({args.book_snapshots:,} stored),"
          f" {per_day / 2**20:,.0f} MiB per pair-day at one a second")  # fmt: skip

    figure("ticks", f"write_trades, {len(records):,} trades", trades_rate, "trades/s", baseline=copy_rate,
           baseline_name="plain COPY, unindexed", target=(">=", TRADES_TARGET))  # fmt: skip
    figure("ticks", "disk per million trades", per_million / 2**20, "MiB")
    figure("ticks", f"disk per book snapshot, depth {BOOK_DEPTH}", per_snapshot, "bytes")
    figure("ticks", "book level updates applied", book_rate, "updates/s", baseline=dict_rate,
           baseline_name="plain dict assignments", target=(">=", BOOK_TARGET), on="value")  # fmt: skip
    figure("ticks", "book level updates, frames through parser and BookKeeper", stream_rate, "updates/s",
           baseline=dict_rate, baseline_name="plain dict assignments", target=(">=", BOOK_TARGET),
           on="value")  # fmt: skip
    for venue, rate in venue_rates.items():
        figure("ticks", f"book level updates, {venue} frames through parser and BookKeeper", rate, "updates/s",
               baseline=dict_rate, baseline_name="plain dict assignments", target=(">=", BOOK_TARGET),
               on="value")  # fmt: skip


if __name__ == "__main__":
    main()
