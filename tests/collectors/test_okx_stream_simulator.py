"""The simulator's OKX WebSockets, read by a real client through the OKX parser."""

import asyncio
import urllib.error
from decimal import Decimal

from apps.collectors.exchanges.events import (
    BookDelta,
    BookSnapshot,
    CandleUpdate,
    Control,
    FundingUpdate,
    MarkPrice,
    OpenInterestUpdate,
)
from apps.collectors.exchanges.okx import protocol
from apps.collectors.exchanges.okx.book import new_book
from apps.collectors.exchanges.okx.parser import parse_frame
from apps.collectors.simulator import okx as simulated
from tests.collectors.harness import SEED, control, read_frames, simulator_running

MINUTE = 60_000


def test_the_simulated_okx_streams_speak_okxs_protocol_and_parse_exactly(settings):
    with simulator_running(speed=60, update_interval=0.05, ctx_interval=0.1) as simulator:
        settings.KIRBY_OKX_WS_URL = f"ws://{simulator.host}:{simulator.port}/ws/v5/public"
        settings.KIRBY_OKX_BUSINESS_WS_URL = f"ws://{simulator.host}:{simulator.port}/ws/v5/business"
        candles = [protocol.candle_subscription("BTC-USDT-SWAP", "1m"), protocol.candle_subscription("BTC-USDT", "1m")]
        # A candle channel on the public endpoint is refused, the rest acked one by one.
        public = [protocol.context_subscription("BTC-USDT-SWAP"), protocol.candle_subscription("BTC-USDT", "1m")]

        def closed_twice(frames):
            return sum('"1"]]' in f for f in frames) >= 2

        business_frames = asyncio.run(
            read_frames(protocol.ws_url("business"), [*protocol.subscribe_frames(candles), "ping"], closed_twice)
        )
        control(simulator, "/control/malformed", {"count": 1})
        public_frames = asyncio.run(
            read_frames(protocol.ws_url("public"), [*protocol.subscribe_frames(public), "ping"],
                 lambda frames: sum('"oiCcy"' in f for f in frames) >= 3)
        )  # fmt: skip
        log = {p: control(simulator, f"/control/ctx-log?coin={p}:BTC-USDT-SWAP") for p in ("okx", "okx-oi", "okx-mark")}

    business = [e for frame in business_frames for e in parse_frame(frame, "business")]
    assert [e for e in business if isinstance(e, Control)][:3] == [
        Control("ack", candles[0]), Control("ack", candles[1]), Control("pong")
    ]  # fmt: skip
    closed = [e for e in business if isinstance(e, CandleUpdate) and e.closed]
    assert {c.coin for c in closed} == {"BTC-USDT-SWAP", "BTC-USDT"}
    for candle in closed:
        (truth,) = simulated.truth_candles(SEED, candle.coin, "1m", candle.open_ms, candle.open_ms + MINUTE)
        assert (candle.open_ms, candle.open, candle.high, candle.low, candle.close, candle.volume) == truth

    events, malformed = [], 0
    for frame in public_frames:
        try:
            events.extend(parse_frame(frame, "public"))
        except ValueError:
            malformed += 1
    controls = [e for e in events if isinstance(e, Control)]
    assert [c.kind for c in controls[:4]] == ["ack", "ack", "ack", "error"] and "60018" in controls[3].detail
    assert malformed == 1  # the injected fault, and nothing else
    # Every context event is exactly a push the simulator logged as sent.
    funding = [e for e in events if isinstance(e, FundingUpdate)]
    interest = [e for e in events if isinstance(e, OpenInterestUpdate)]
    marks = [e for e in events if isinstance(e, MarkPrice)]
    assert funding and interest and marks
    # Digits and scale as sent (as_tuple): str() of a Decimal may spell a small rate 1.901E-7, OKX 0.0000001901.
    assert {(e.funding_rate.as_tuple(), str(e.next_funding_ms)) for e in funding} <= {
        (Decimal(c["ctx"]["fundingRate"]).as_tuple(), c["ctx"]["fundingTime"]) for c in log["okx"]
    }
    sent_interest = {Decimal(c["ctx"]["oiCcy"]).as_tuple() for c in log["okx-oi"]}
    assert {e.open_interest.as_tuple() for e in interest} <= sent_interest
    assert {e.mark_price.as_tuple() for e in marks} <= {Decimal(c["ctx"]["markPx"]).as_tuple() for c in log["okx-mark"]}


def test_the_simulated_okx_books_chain_on_seqid_equal_the_true_book_and_a_gap_fault_breaks_the_chain(settings):
    spot = "BTC-USDT"
    with simulator_running(speed=60, update_interval=0.05) as simulator:
        settings.KIRBY_OKX_WS_URL = f"ws://{simulator.host}:{simulator.port}/ws/v5/public"
        subscribe = protocol.subscribe_frames([protocol.book_subscription(spot), protocol.trades_subscription(spot)])
        clean = asyncio.run(read_frames(protocol.ws_url("public"), subscribe, lambda frames: len(frames) >= 12))
        refused = [
            control_status(simulator, "/control/book-fault", {"venue": "okx", "kind": "lost", "count": 1}),
            control_status(simulator, "/truth/book?exchange=nowhere&coin=BTC-USDT&time=0"),
        ]
        control(simulator, "/control/book-fault", {"venue": "okx", "kind": "gap", "count": 1})
        gapped = asyncio.run(read_frames(protocol.ws_url("public"), subscribe, lambda frames: len(frames) >= 8))
        truths = {}
        for frame in clean:
            for event in parse_frame(frame, "public"):
                if isinstance(event, BookSnapshot | BookDelta):
                    truths[event.time_ms] = control(
                        simulator, f"/truth/book?exchange=okx&coin={spot}&time={event.time_ms}"
                    )

    book = new_book(spot)
    events = [e for frame in clean for e in parse_frame(frame, "public")]
    for event in events:
        if isinstance(event, BookSnapshot):
            book.snapshot(event, complete=True)
        elif isinstance(event, BookDelta):
            book.delta(event)
            bids, asks = book.book.top(100)
            truth = truths[event.time_ms]
            assert (bids, asks) == ([level[:2] for level in truth["bids"]], [level[:2] for level in truth["asks"]])
    assert book.in_sync and book.breaks == 0 and sum(isinstance(e, BookDelta) for e in events) >= 5
    assert refused == [400, 400]
    broken = new_book(spot)
    for event in (e for frame in gapped for e in parse_frame(frame, "public")):
        if isinstance(event, BookSnapshot):
            broken.snapshot(event, complete=True)
        elif isinstance(event, BookDelta):
            broken.delta(event)
    assert broken.breaks == 1 and "sequence gap" in broken.reason


def control_status(simulator, path, body=None):
    try:
        control(simulator, path, body)
    except urllib.error.HTTPError as error:
        return error.code
    return 200
