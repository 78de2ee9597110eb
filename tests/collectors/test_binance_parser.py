"""Binance parser against every recorded message in tests/fixtures/exchanges/binance_{usdm,spot}/, and bad input."""

import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.exchanges import get_adapter
from apps.collectors.exchanges.binance import protocol
from apps.collectors.exchanges.binance.parser import parse_frame, parse_open_interest
from apps.collectors.exchanges.events import CandleUpdate, Control, FundingUpdate, MalformedFrame, OpenInterestUpdate
from apps.collectors.plan import Plan
from apps.collectors.stream import Stream

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"
MARKETS = {"binance_usdm": "usdm", "binance_spot": "spot"}
KLINE = (
    '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"T":59999,"s":"BTCUSDT",'
    '"i":"1m","o":"1.5","c":"2","h":"2","l":"1","v":"3","n":4,"x":true}}}'
)


def recorded():
    for folder, market in MARKETS.items():
        for path in sorted((FIXTURES / folder).glob("*.ndjson")):
            for line in path.read_text().splitlines():
                yield folder, path.name, market, line


def test_every_recorded_message_parses_and_klines_mark_prices_trades_and_depth_make_events():
    kinds = {}
    for folder, name, market, line in recorded():
        events = parse_frame(line, market)
        kinds.setdefault((folder, name), set()).update(type(event).__name__ for event in events)

    assert kinds == {
        ("binance_usdm", "candles.ndjson"): {"CandleUpdate"},
        ("binance_usdm", "funding.ndjson"): {"FundingUpdate"},
        ("binance_usdm", "trades.ndjson"): {"TradeUpdate"},
        ("binance_usdm", "book_ticker.ndjson"): set(),
        ("binance_usdm", "orderbook_diff.ndjson"): {"BookDelta"},
        ("binance_spot", "candles.ndjson"): {"CandleUpdate"},
        ("binance_spot", "trades.ndjson"): {"TradeUpdate"},
        ("binance_spot", "book_ticker.ndjson"): set(),
        ("binance_spot", "orderbook_diff.ndjson"): {"BookDelta"},
    }


def test_recorded_klines_are_exact_and_only_the_closing_push_is_closed():
    lines = (FIXTURES / "binance_usdm" / "candles.ndjson").read_text().splitlines()
    updates = [event for line in lines for event in parse_frame(line, "usdm")]

    assert len(updates) == 22 and all(isinstance(u, CandleUpdate) for u in updates)
    closing = [u for u in updates if u.closed]
    assert len(closing) == 1
    assert closing[0] == CandleUpdate(
        "usdm:SUSHIUSDT", "1m", 1626992700000, 1626992759999, Decimal("7.6080"), Decimal("7.6180"),
        Decimal("7.6070"), Decimal("7.6170"), Decimal("3005"), 113, True,
    )  # fmt: skip
    assert all(u.open_ms > closing[0].open_ms for u in updates[updates.index(closing[0]) + 1 :])
    spot = [parse_frame(line, "spot")[0] for line in (FIXTURES / "binance_spot" / "candles.ndjson").read_text().split()]
    assert [u.coin for u in spot] == ["spot:NKNUSDT", "spot:LRCBTC"] and str(spot[1].low) == "0.00000638"


def test_recorded_mark_prices_are_funding_with_and_without_an_index_price():
    lines = (FIXTURES / "binance_usdm" / "funding.ndjson").read_text().splitlines()

    old, new = (parse_frame(line, "usdm")[0] for line in lines)

    assert old == FundingUpdate("usdm:BTCUSDT", Decimal("0.00010000"), Decimal("8291.34697815"), None, 1569916800000)
    assert new == FundingUpdate(
        "usdm:BTCUSDT", Decimal("0.00015640"), Decimal("11857.56000000"), Decimal("11851.86949091"), 1597564800000
    )


def test_the_recorded_open_interest_answer_is_exact():
    body = json.loads((FIXTURES / "binance_usdm" / "rest_openInterest.json").read_text())

    assert parse_open_interest(body) == OpenInterestUpdate("usdm:BTCUSDT", Decimal("26286.181"))


def test_acks_and_errors_are_control_messages():
    assert parse_frame('{"result":null,"id":7}', "spot") == [Control("ack", 7)]
    error = parse_frame('{"error":{"code":2,"msg":"Invalid request"},"id":8}', "usdm")
    assert error == [Control("error", {"code": 2, "msg": "Invalid request"})]


@pytest.mark.parametrize(
    "frame",
    [
        KLINE[: len(KLINE) // 2],  # not JSON
        f"[{KLINE}]",  # not an object
        KLINE.replace('"o":"1.5"', '"o":"one"'),  # a number that is not a number
        KLINE.replace('"o":"1.5"', '"o":"NaN"'),
        KLINE.replace('"i":"1m"', '"i":"1s"'),  # an interval Kirby does not collect
        KLINE.replace('"x":true', '"x":"true"'),
        KLINE.replace('"T":59999', '"T":0'),
        KLINE.replace('"e":"kline"', '"e":"mystery"').replace("@kline_1m", "@mystery"),
        '{"stream":"btcusdt@kline_1m","data":null}',
        '{"stream":"btcusdt@aggTrade","data":{"e":["aggTrade"]}}',  # an event type that is not a name
        '{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","r":"x","T":1}}',
    ],
)
def test_malformed_frames_are_refused(frame):
    with pytest.raises(MalformedFrame):
        parse_frame(frame, "usdm")


def test_mark_prices_on_the_spot_endpoint_are_refused():
    line = (FIXTURES / "binance_usdm" / "funding.ndjson").read_text().splitlines()[1]
    with pytest.raises(MalformedFrame):
        parse_frame(line, "spot")


class Collected:
    def __init__(self):
        self.records = []

    def add(self, record):
        self.records.append(record)

    def pending(self):
        return len(self.records)


def test_a_stream_counts_and_skips_bad_frames_and_goes_on_storing_good_ones():
    stream = Stream(get_adapter("binance"), 0, Collected(), threading.Event())
    stream.plan = Plan(candles={("usdm:BTCUSDT", "1m"): [11]}, endpoint="usdm")
    unknown_symbol, unsubscribed_interval = KLINE.replace("BTCUSDT", "XYZUSDT"), KLINE.replace('"i":"1m"', '"i":"5m"')
    bad = [KLINE[:40], KLINE.replace('"v":"3"', '"v":[3]'), KLINE[:-2], unknown_symbol, unsubscribed_interval]

    parse = stream.parser_for("usdm")
    for frame in [*bad, KLINE]:
        stream._handle(parse, frame)

    assert stream.status.doc["malformed"] == 5
    assert [(r.starlisting_id, r.open, r.closed) for r in stream.batcher.records] == [(11, Decimal("1.5"), True)]


def test_subscribes_are_batched_and_stay_under_binance_message_rate():
    subscriptions = [["usdm", f"c{i}usdt@kline_1m"] for i in range(250)]

    frames = [json.loads(frame) for frame in protocol.subscribe_frames(subscriptions)]

    assert [len(frame["params"]) for frame in frames] == [100, 100, 50]
    assert {frame["method"] for frame in frames} == {"SUBSCRIBE"} and len({frame["id"] for frame in frames}) == 3
    assert protocol.messages_per_second("usdm") < 10 and protocol.messages_per_second("spot") < 5
