"""The OKX adapter's parser over every recorded OKX message, its symbols, frames and bad input."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.exchanges import LIVE_EXCHANGES, get_adapter
from apps.collectors.exchanges.events import (
    CandleUpdate,
    Control,
    FundingUpdate,
    MalformedFrame,
    MarkPrice,
    OpenInterestUpdate,
)
from apps.collectors.exchanges.okx import protocol
from apps.collectors.exchanges.okx.parser import (
    candle_row,
    data_list,
    parse_frame,
    parse_funding_row,
    parse_open_interest_row,
)
from apps.collectors.exchanges.okx.symbols import UnsupportedMarket, coin_name, pair_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges" / "okx"
PUBLIC, BUSINESS = protocol.PUBLIC, protocol.BUSINESS


def lines(name):
    return (FIXTURES / name).read_text().splitlines()


def body(name):
    return json.loads((FIXTURES / name).read_text())


def test_recorded_funding_pushes_give_the_coming_rate_and_a_push_without_one_gives_nothing():
    with_rate, without_rate = lines("funding.ndjson")

    assert parse_frame(with_rate, PUBLIC) == [
        FundingUpdate("WNCG-USDT-SWAP", Decimal("0.00048105"), None, None, next_funding_ms=1640131200000)
    ]
    # SOS's push carries only nextFundingRate: an estimate of a later period, nothing to store.
    assert parse_frame(without_rate, PUBLIC) == []


def test_recorded_open_interest_is_the_coin_amount():
    (raw,) = lines("open_interest.ndjson")
    message = json.loads(raw)
    message["data"][0]["oiCcy"] = "6441.95"  # the recording's oi and oiCcy are equal (a 1-coin contract)

    assert parse_frame(raw, PUBLIC) == [OpenInterestUpdate("WNCG-USDT-SWAP", Decimal("644195"))]
    assert parse_frame(json.dumps(message), PUBLIC)[0].open_interest == Decimal("6441.95")


def test_recorded_tickers_are_valid_but_not_collected():
    events = [event for raw in lines("tickers.ndjson") for event in parse_frame(raw, PUBLIC)]

    # Only the subscribe ack produces an event (trades and books: test_okx_trades_and_books.py).
    assert events and all(event.kind == "ack" for event in events)
    assert events[0].kind == "ack" and events[0].detail["channel"] == "tickers"


def test_recorded_rest_candles_parse_exactly_with_the_base_volume_of_each_market():
    rows = data_list(body("rest_candles.json"))

    swap = [candle_row(row, "BTC-USDT-SWAP", "1m") for row in rows]
    spot = candle_row(rows[0], "BTC-USDT", "1m")

    assert swap[0] == CandleUpdate(
        coin="BTC-USDT-SWAP", interval="1m", open_ms=1747094040000, close_ms=1747094099999,
        open=Decimal("102806.1"), high=Decimal("102820.4"), low=Decimal("102806.1"), close=Decimal("102820.4"),
        volume=Decimal("10.4037"), num_trades=None, closed=True,
    )  # fmt: skip
    assert [c.open_ms for c in swap] == [1747094040000, 1747093980000]  # newest first, as OKX answers
    # A swap's vol counts contracts (0.01 BTC each); volCcy is the coin. Spot's vol is the coin already.
    assert spot.volume == Decimal("1040.37")


def test_recorded_funding_history_keeps_the_published_rate():
    points = [parse_funding_row(row, "BTC-USDT-SWAP") for row in data_list(body("rest_funding_rate_history.json"))]

    assert [(p.time_ms, p.funding_rate) for p in points] == [
        (1704067200000, Decimal("0.0001515032")),
        (1704038400000, Decimal("-0.0000236017")),
    ]


def test_a_live_candle_is_open_until_confirmed():
    row = ["1747094040000", "102806.1", "102820.4", "102806.1", "102820.4", "1040.37", "10.4037", "1069603", "0"]
    frame = {"arg": {"channel": "candle1m", "instId": "BTC-USDT-SWAP"}, "data": [row]}

    (open_candle,) = parse_frame(json.dumps(frame), BUSINESS)
    frame["data"][0][8] = "1"
    (closed,) = parse_frame(json.dumps(frame), BUSINESS)
    frame["arg"]["channel"] = "candle1Dutc"
    frame["data"][0][0] = "1747008000000"

    assert open_candle.closed is False and closed == open_candle._replace(closed=True)
    assert parse_frame(json.dumps(frame), BUSINESS)[0].interval == "1d"


def test_mark_prices_pongs_acks_and_errors():
    mark = '{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instType":"SWAP",' \
           '"instId":"BTC-USDT-SWAP","markPx":"42310.6","ts":"1630049139746"}]}'  # fmt: skip

    assert parse_frame(mark, PUBLIC) == [MarkPrice("BTC-USDT-SWAP", Decimal("42310.6"))]
    assert parse_frame("pong", BUSINESS) == [Control("pong")]
    assert parse_frame('{"event":"error","code":"60012","msg":"Invalid request"}', PUBLIC) == [
        Control("error", "60012: Invalid request")
    ]


CANDLE = '{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["1747094040000","1","1","1","1","1","1","1",%s]]}'


@pytest.mark.parametrize(
    "raw, endpoint",
    [
        ('{"arg":{"channel":"candle1m"', BUSINESS),
        ("[1, 2]", PUBLIC),
        ("ping", PUBLIC),
        (CANDLE % '"2"', BUSINESS),  # confirm is neither "0" nor "1"
        (CANDLE % '"1"', PUBLIC),  # candles live on the business endpoint
        (CANDLE.replace("candle1m", "candle8H") % '"1"', BUSINESS),
        (CANDLE.replace("1747094040000", "1747094040001") % '"1"', BUSINESS),  # not a minute's open
        (CANDLE.replace('"1","1","1"', '"NaN","1","1"', 1) % '"1"', BUSINESS),
        ('{"arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},"data":[{"oiCcy":"1e"}]}', PUBLIC),
        ('{"arg":{"channel":"open-interest","instId":"BTC-USDT"},"data":[{"oiCcy":"1"}]}', PUBLIC),
        ('{"arg":{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},"data":[{"fundingRate":"0.1",'
         '"fundingTime":1640131200000}]}', PUBLIC),  # times arrive as strings
        ('{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instId":"ETH-USDT-SWAP",'
         '"markPx":"1"}]}', PUBLIC),
        ('{"arg":{"channel":"liquidation-orders","instId":"BTC-USDT-SWAP"},"data":[]}', PUBLIC),
        ('{"event":"login"}', PUBLIC),
    ],
)  # fmt: skip
def test_bad_input_is_malformed(raw, endpoint):
    with pytest.raises(MalformedFrame):
        parse_frame(raw, endpoint)


def test_a_rest_answer_with_an_error_code_is_malformed():
    with pytest.raises(MalformedFrame, match="51001"):
        data_list({"code": "51001", "msg": "Instrument ID does not exist", "data": []})
    with pytest.raises(MalformedFrame):
        parse_open_interest_row(["1701417600000", "731377.5"])


def test_pairs_map_to_instrument_ids_both_ways():
    assert coin_name("BTC", "USDT", "perps") == "BTC-USDT-SWAP"
    assert coin_name("eth", "usdt", "spot") == "ETH-USDT"
    assert pair_of("ETH-USDT-SWAP") == ("ETH", "USDT", "perps") and pair_of("BTC-USDT") == ("BTC", "USDT", "spot")
    with pytest.raises(UnsupportedMarket):
        coin_name("BTC", "USD", "futures")
    with pytest.raises(UnsupportedMarket):
        pair_of("BTC-USD-220527")


def test_frames_batch_args_and_candles_go_to_the_business_endpoint(settings):
    settings.KIRBY_OKX_BUSINESS_WS_URL = "ws://127.0.0.1:1/ws/v5/business"
    adapter = get_adapter("okx")
    subscriptions = [protocol.candle_subscription(f"C{i}-USDT", "1h") for i in range(150)]
    subscriptions.append(protocol.context_subscription("BTC-USDT-SWAP"))

    frames = [json.loads(frame) for frame in protocol.subscribe_frames(subscriptions)]

    assert [len(f["args"]) for f in frames] == [100, 53] and frames[0]["op"] == "subscribe"
    assert frames[0]["args"][0] == {"channel": "candle1H", "instId": "C0-USDT"}
    assert {a["channel"] for a in frames[1]["args"][-3:]} == {"funding-rate", "open-interest", "mark-price"}
    assert adapter.protocol.ws_url(adapter.protocol.candle_endpoint("BTC-USDT")) == settings.KIRBY_OKX_BUSINESS_WS_URL
    assert protocol.ping_frame() == "ping" and "okx" in LIVE_EXCHANGES
