"""The simulator's Bybit public WebSocket, read by a real client through the Bybit parser."""

import asyncio
import json

from apps.collectors.exchanges.bybit import book as bybit_book
from apps.collectors.exchanges.bybit import protocol
from apps.collectors.exchanges.bybit.parser import Parser, ticker_of
from apps.collectors.exchanges.events import BookSnapshot, CandleUpdate, Control, FundingUpdate, OpenInterestUpdate
from apps.collectors.simulator import bybit as simulated
from tests.collectors.harness import SEED, control, read_frames, simulator_running

MINUTE = 60_000


def test_the_simulated_bybit_stream_speaks_bybits_protocol_and_parses_exactly(settings):
    with simulator_running(speed=60, update_interval=0.05, ctx_interval=0.1) as simulator:
        settings.KIRBY_BYBIT_WS_URL = f"ws://{simulator.host}:{simulator.port}/v5/public"
        topics = [protocol.kline_topic("BTCUSDT", "1m"), protocol.tickers_topic("BTCUSDT")]
        parser = Parser("linear", symbols={"BTCUSDT"}, intervals={"1m"})

        def enough(frames):
            closed = any('"confirm":true' in f for f in frames)
            return closed and sum('"tickers.' in f for f in frames) >= 5

        subscribe = [*protocol.topic_frames("linear", topics), protocol.ping_frame()]
        frames = asyncio.run(read_frames(protocol.ws_url("linear"), subscribe, enough))
        events = [event for frame in frames for event in parser.feed(frame)]
        ticker_log = control(simulator, "/control/ctx-log?coin=bybit:BTCUSDT")

        spot_topics = [protocol.kline_topic(symbol, "1m") for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] * 4
        too_many = json.dumps({"op": "subscribe", "req_id": "x", "args": spot_topics[:11]})
        unique = [f"kline.{i}.BTCUSDT" for i in ("1", "3", "5", "15", "30", "60", "120", "240", "720", "D", "M")]
        spot_frames = asyncio.run(
            read_frames(protocol.ws_url("spot"), [too_many, *protocol.topic_frames("spot", unique),
                        protocol.ping_frame()], lambda received: any("pong" in frame for frame in received))
        )  # fmt: skip

    assert parser.rejected == {}
    controls = [e for e in events if isinstance(e, Control)]
    assert [c.kind for c in controls] == ["ack", "pong"]
    candles = [e for e in events if isinstance(e, CandleUpdate)]
    closed = [c for c in candles if c.closed]
    assert closed and all(c.interval == "1m" and c.coin == "linear:BTCUSDT" for c in candles)
    (truth,) = simulated.truth_klines(SEED, "linear", "BTCUSDT", "1m", closed[0].open_ms, closed[0].open_ms + MINUTE)
    assert (
        closed[0].open_ms,
        closed[0].open,
        closed[0].high,
        closed[0].low,
        closed[0].close,
        closed[0].volume,
    ) == truth
    assert sum(1 for c in candles if c.open_ms == closed[0].open_ms and not c.closed) >= 2  # the open candle repeats
    # Tickers: one snapshot, then deltas with only what changed; merged, every event is the full state sent.
    ticker_frames = [json.loads(f) for f in frames if '"tickers.' in f]
    assert [f["type"] for f in ticker_frames][:2] == ["snapshot", "delta"]
    assert any(set(f["data"]) < set(ticker_frames[0]["data"]) for f in ticker_frames[1:])
    contexts = [e for e in events if isinstance(e, FundingUpdate | OpenInterestUpdate)]
    sent = [entry["ctx"] for entry in ticker_log][: len(contexts) // 2]
    assert contexts == [e for fields in sent for e in ticker_of(fields, "linear:BTCUSDT").events()]
    assert contexts[-1].open_interest * 2 == ticker_of(sent[-1], "linear:BTCUSDT").open_interest_both_sides
    # Spot: at most 10 args a request; the protocol module splits subscriptions accordingly.
    # (Klines of the accepted subscriptions may arrive before the pong: only the control frames are compared.)
    spot_events = [e for frame in spot_frames for e in Parser("spot").feed(frame) if isinstance(e, Control)]
    assert spot_events[0] == Control("error", "args size >10")
    assert [e.kind for e in spot_events[1:]] == ["ack", "ack", "pong"]


def test_the_simulated_bybit_book_is_a_snapshot_then_deltas_one_u_apart_and_the_gap_fault_skips_one(settings):
    with simulator_running(speed=60, update_interval=0.05) as simulator:
        settings.KIRBY_BYBIT_WS_URL = f"ws://{simulator.host}:{simulator.port}/v5/public"
        subscribe = protocol.subscribe_frames(
            [protocol.book_subscription("linear:BTCUSDT"), ["linear", "orderbook.7.BTCUSDT"]]
        )
        refused = asyncio.run(read_frames(protocol.ws_url("linear"), subscribe, lambda received: len(received) >= 1))
        frames = asyncio.run(read_frames(protocol.ws_url("linear"), protocol.subscribe_frames(
            [protocol.book_subscription("linear:BTCUSDT")]), lambda received: len(received) >= 30))  # fmt: skip
        control(simulator, "/control/book-fault", {"kind": "gap", "count": 1})
        gapped = asyncio.run(read_frames(protocol.ws_url("linear"), protocol.subscribe_frames(
            [protocol.book_subscription("linear:BTCUSDT")]), lambda received: len(received) >= 10))  # fmt: skip
        parser, book = Parser("linear"), bybit_book.new_book("linear:BTCUSDT")
        events = [event for frame in frames for event in parser.parse(frame)]
        for event in events:
            if isinstance(event, BookSnapshot):
                book.snapshot(event, complete=True)
            elif not isinstance(event, Control):
                book.delta(event)
        truth = control(simulator, f"/truth/book?exchange=bybit&coin=linear:BTCUSDT&time={book.time_ms}")

    assert json.loads(refused[0])["success"] is False and "orderbook.7.BTCUSDT" in json.loads(refused[0])["ret_msg"]
    books = [e for e in events if not isinstance(e, Control)]
    assert isinstance(books[0], BookSnapshot) and len(books[0].bids) == len(books[0].asks) == 50
    assert [d.first for d in books[1:]] == list(range(books[0].sequence + 1, books[0].sequence + len(books)))
    assert book.in_sync and book.breaks == 0 and book.book.top(50) == (truth["b"], truth["a"])
    updates = [json.loads(f)["data"]["u"] for f in gapped if '"orderbook.' in f]
    assert sorted(b - a for a, b in zip(updates, updates[1:], strict=False))[-1] == 2  # one u never sent
