"""OKX trades and ``books`` over every recorded line, the seqId rule, contract sizes and bad input."""

import json
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors import books
from apps.collectors.books import BookKeeper
from apps.collectors.exchanges import get_adapter
from apps.collectors.exchanges.events import BookDelta, BookSnapshot, Control, MalformedFrame, TradeUpdate
from apps.collectors.exchanges.okx import contracts
from apps.collectors.exchanges.okx.book import new_book
from apps.collectors.exchanges.okx.parser import parse_frame
from apps.collectors.plan import BookRoute
from apps.marketdata import live_books

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges" / "okx"
SWAP = "BTC-USDT-SWAP"


@pytest.fixture(autouse=True)
def btc_contract():
    contracts.remember({SWAP: Decimal("0.01")})  # OKX's BTC-USDT-SWAP: 0.01 BTC a contract


def lines(name):
    return (FIXTURES / name).read_text().splitlines()


def events(name):
    return [event for raw in lines(name) for event in parse_frame(raw, "public")]


def okx_checksum(book):
    """OKX's CRC32 of the local book's top 25 levels, ``bid:size:ask:size:...``, as a signed 32-bit int."""
    bids, asks = list(reversed(book.bids.items()))[:25], list(book.asks.items())[:25]
    parts = []
    for i in range(25):
        for side in (bids, asks):
            if i < len(side):
                parts += [str(side[i][0]), str(side[i][1])]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 2**32 if crc >= 2**31 else crc


def test_every_recorded_trade_keeps_its_id_taker_side_exact_price_and_coin_size():
    recorded = lines("trades.ndjson")
    ack, *trades = events("trades.ndjson")
    items = [item for raw in recorded for item in json.loads(raw).get("data", [])]

    assert ack == Control("ack", {"channel": "trades", "instId": "BTC-USDT"})
    assert len(trades) == len(items) >= 70 and all(isinstance(t, TradeUpdate) for t in trades)
    assert trades[0] == TradeUpdate("BTC-USDT", "338476307", Decimal("30236"), Decimal("0.0002"), "buy",
                                    1652459224818000)  # fmt: skip
    for trade, item in zip(trades, items, strict=True):
        assert (trade.trade_id, trade.price, trade.side, trade.time_us) == (
            item["tradeId"],
            Decimal(item["px"]),
            item["side"],
            int(item["ts"]) * 1000,
        )
    spot = [t for t in trades if t.coin == "BTC-USDT"]
    assert [t.size for t in spot] == [Decimal(i["sz"]) for i in items if i["instId"] == "BTC-USDT"]
    # The swap's "5" is five contracts of 0.01 BTC.
    (swap,) = [t for t in trades if t.coin == SWAP]
    assert swap.size == Decimal("0.05") and swap.trade_id == "148266905"


def test_a_swap_whose_contract_value_is_unknown_is_refused_rather_than_stored_in_contracts():
    raw = next(line for line in lines("trades.ndjson") if SWAP in line).replace(SWAP, "NEWCOIN-USDT-SWAP")

    with pytest.raises(MalformedFrame, match="ctVal"):
        parse_frame(raw, "public")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"tradeId": ""}, "tradeId"),
        ({"tradeId": None}, "tradeId"),
        ({"sz": "-0.1"}, "not positive"),
        ({"px": "abc"}, "px"),
        ({"side": "long"}, "side"),
        ({"ts": "1652459224.8"}, "ts"),
        ({"instId": "ETH-USDT"}, "under the arg"),
    ],
)
def test_a_bad_trade_is_malformed_never_a_trade(change, reason):
    message = json.loads(lines("trades.ndjson")[1])
    message["data"][0].update(change)

    with pytest.raises(MalformedFrame, match=reason):
        parse_frame(json.dumps(message), "public")


def test_every_recorded_book_message_applies_and_matches_okx_own_checksum():
    """The recording predates seqId (checksums were still sent): each of its 98 book states is the one OKX had."""
    recorded = [json.loads(raw) for raw in lines("orderbook.ndjson")]
    book = new_book("BTC-USDT")
    matched = 0

    for message, event in zip(recorded, events("orderbook.ndjson"), strict=True):
        if isinstance(event, Control):
            continue
        assert isinstance(event, BookSnapshot if message["action"] == "snapshot" else BookDelta)
        if isinstance(event, BookSnapshot):
            book.snapshot(event, complete=True)
        else:
            book.delta(event)
        assert book.in_sync and not book.book.crossed
        matched += okx_checksum(book.book) == message["data"][0]["checksum"]

    assert matched == len(recorded) - 1 == 98 and book.breaks == 0


def sequenced():
    """The recording with the fields OKX sends now: seqId chained by prevSeqId (-1 on the snapshot),
    one update that changed nothing (prevSeqId == seqId), and the checksum 0."""
    frames = []
    for position, raw in enumerate(lines("orderbook.ndjson")[1:]):
        message = json.loads(raw)
        message["data"][0].update(checksum=0, seqId=1000 + 10 * position,
                                  prevSeqId=-1 if position == 0 else 1000 + 10 * (position - 1))  # fmt: skip
        frames.append(message)
        if position == 3:
            quiet = {**message["data"][0], "bids": [], "asks": [], "prevSeqId": message["data"][0]["seqId"]}
            frames.append({**message, "data": [quiet]})
    return frames


def feed(book, frames):
    for frame in frames:
        (event,) = parse_frame(json.dumps(frame), "public")
        book.snapshot(event, complete=True) if isinstance(event, BookSnapshot) else book.delta(event)


def test_updates_chain_on_seqid_and_an_update_that_changed_nothing_repeats_it():
    frames = sequenced()
    book = new_book("BTC-USDT")

    feed(book, frames)

    assert book.in_sync and book.breaks == 0 and book.sequence == frames[-1]["data"][0]["seqId"]
    assert frames[4]["data"][0]["prevSeqId"] == frames[4]["data"][0]["seqId"]
    assert okx_checksum(book.book) == json.loads(lines("orderbook.ndjson")[-1])["data"][0]["checksum"]


def snapshot_of(book, seq_id, ts):
    """An OKX snapshot frame holding ``book``'s levels: what a resubscribe would be answered with."""
    bids = [[str(p), str(s), "0", "1"] for p, s in reversed(book.book.bids.items())]
    asks = [[str(p), str(s), "0", "1"] for p, s in book.book.asks.items()]
    data = {"asks": asks, "bids": bids, "ts": ts, "checksum": 0, "prevSeqId": -1, "seqId": seq_id}
    return {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot", "data": [data]}


def test_a_skipped_seqid_breaks_the_book_until_a_fresh_snapshot():
    frames = sequenced()
    truth, book = new_book("BTC-USDT"), new_book("BTC-USDT")
    feed(truth, frames[:20])

    feed(book, frames[:10] + frames[11:12])  # frames[10] never arrived
    out = (book.in_sync, book.breaks, book.reason)
    feed(book, frames[12:20])  # later updates cannot chain on a book that is gone: they wait
    waiting = (book.in_sync, len(book.pending))
    last = frames[19]["data"][0]
    feed(book, [snapshot_of(truth, last["seqId"], last["ts"]), *frames[20:]])

    assert out[:2] == (False, 1) and "sequence gap" in out[2]
    assert waiting == (False, 8)
    assert book.in_sync and book.breaks == 1 and not book.pending
    assert okx_checksum(book.book) == json.loads(lines("orderbook.ndjson")[-1])["data"][0]["checksum"]


def test_a_crossed_update_and_a_negative_size_are_breaks_or_malformed_never_applied():
    frames = sequenced()
    book = new_book("BTC-USDT")
    feed(book, frames[:3])
    best_ask = book.book.asks.peekitem(0)[0]
    crossed = json.loads(json.dumps(frames[3]))
    crossed["data"][0]["bids"] = [[str(best_ask + 1), "1", "0", "1"]]
    negative = json.loads(json.dumps(frames[3]))
    negative["data"][0]["asks"][0][1] = "-1"

    with pytest.raises(MalformedFrame, match="negative"):
        parse_frame(json.dumps(negative), "public")
    feed(book, [crossed])

    assert not book.in_sync and book.breaks == 1 and "crossed" in book.reason and not book.book.bids


def coin_levels(frames):
    """The top levels of the book ``frames`` build, read as spot (coins), each size / 100 (0.01 BTC a contract)."""
    spot = new_book("BTC-USDT")
    feed(spot, [{**frame, "arg": {"channel": "books", "instId": "BTC-USDT"}} for frame in frames])
    return [[[p, format(Decimal(s) / 100, "f")] for p, s in side] for side in spot.book.top(live_books.LIVE_DEPTH)]


def test_swap_book_sizes_are_coins_and_a_broken_book_is_wanted_for_a_resubscribe_and_marked_in_redis(monkeypatch):
    monkeypatch.setattr(books, "PUBLISH_SECONDS", 0)  # every state to Redis, not a few a second
    frames = sequenced()
    for frame in frames:
        frame["arg"]["instId"] = SWAP
    route = BookRoute(9, ("okx", "BTC", "USDT", "perps"), 5, 60.0)
    stored = []
    keeper = BookKeeper(get_adapter("okx"), stored.extend)
    try:
        for frame in frames[:5]:
            (event,) = parse_frame(json.dumps(frame), "public")
            keeper.feed(event, [route])
        live = live_books.get_book(*route.names)
        (event,) = parse_frame(json.dumps(frames[6]), "public")  # frames[5] was lost
        keeper.feed(event, [route])
        broken = live_books.get_book(*route.names)
    finally:
        live_books.client().delete(live_books.book_key(*route.names))

    bids, asks = coin_levels(frames[:5])
    assert live["in_sync"] and live["asks"] == asks and live["bids"] == bids and len(asks) > 100
    bids, asks = coin_levels(frames[:1])  # stored once a minute: the first state
    assert len(stored) == 1 and stored[0].asks == asks[:5] and stored[0].bids == bids[:5]
    assert not broken["in_sync"] and "sequence gap" in broken["reason"] and keeper.wanted == {SWAP}


def test_a_snapshot_older_than_the_book_is_dropped_and_counted():
    frames = sequenced()
    book = new_book("BTC-USDT")
    feed(book, frames)
    before = book.book.top(400)
    older = json.loads(json.dumps(frames[0]))
    older["data"][0]["ts"] = str(int(frames[-1]["data"][0]["ts"]) - 1)

    feed(book, [older])

    assert book.in_sync and book.stale_snapshots == 1 and book.book.top(400) == before
