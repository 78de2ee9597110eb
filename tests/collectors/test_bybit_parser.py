"""The Bybit adapter's parser over every recorded Bybit message, its symbols, and bad input."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.exchanges import LIVE_EXCHANGES, get_adapter
from apps.collectors.exchanges.bybit import protocol
from apps.collectors.exchanges.bybit.parser import (
    Parser,
    parse_funding_row,
    parse_kline_row,
    parse_open_interest_row,
    result_list,
)
from apps.collectors.exchanges.bybit.symbols import UnsupportedMarket, coin_name, pair_of, split_name
from apps.collectors.exchanges.events import CandleUpdate, Control, FundingUpdate, MalformedFrame, OpenInterestUpdate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges" / "bybit"


def lines(name):
    return (FIXTURES / name).read_text().splitlines()


def body(name):
    return json.loads((FIXTURES / name).read_text())


def test_the_recorded_kline_parses_exactly_and_is_open_until_confirmed():
    (raw,) = lines("candles.ndjson")

    (candle,) = Parser("linear", symbols={"BTCUSDT"}, intervals={"5m"}).parse(raw)

    assert candle == CandleUpdate(
        coin="linear:BTCUSDT", interval="5m", open_ms=1672324800000, close_ms=1672325099999,
        open=Decimal("16649.5"), high=Decimal("16677"), low=Decimal("16608"), close=Decimal("16677"),
        volume=Decimal("2.081"), num_trades=None, closed=False,
    )  # fmt: skip
    closing = json.loads(raw)
    closing["data"][0]["confirm"] = True
    assert Parser().parse(json.dumps(closing))[0].closed is True


def test_a_tickers_delta_is_merged_into_the_last_snapshot_of_its_symbol():
    inverse_snapshot, inverse_delta, linear_snapshot, documented = lines("funding_oi.ndjson")
    parser = Parser("linear")

    first, first_interest = parser.parse(inverse_snapshot)
    merged, merged_interest = parser.parse(inverse_delta)
    btcusdt, btcusdt_interest = parser.parse(linear_snapshot)

    # The delta carries only changed fields: funding, mark and index price come from the snapshot.
    assert merged == first and merged_interest.open_interest == Decimal("449736674") / 2
    assert merged.mark_price == Decimal("28560.00") and merged.index_price == Decimal("28566.94")
    assert parser.ticker("BTCUSD").next_funding_ms == 1680681600000
    assert parser.ticker("BTCUSD").open_interest_both_sides == Decimal("449736674")
    # openInterest counts both sides; Kirby's open interest is one side.
    assert btcusdt == FundingUpdate(
        coin="linear:BTCUSDT", funding_rate=Decimal("0.0001"), mark_price=Decimal("28552.81"),
        index_price=Decimal("28562.25"), next_funding_ms=parser.ticker("BTCUSDT").next_funding_ms,
    )  # fmt: skip
    assert btcusdt_interest == OpenInterestUpdate(
        coin="linear:BTCUSDT", open_interest=Decimal("26387.264"), mark_price=Decimal("28552.81"),
        day_base_volume=Decimal("151185.5160"), day_notional_volume=Decimal("4273027716.4294"),
    )  # fmt: skip
    recent, _ = parser.parse(documented)
    assert recent.funding_rate == Decimal("-0.005") and parser.ticker("BTCUSDT").next_funding_ms == 1760342400000
    assert parser.rejected == {}


def test_single_open_interest_is_taken_when_bybit_sends_it():
    snapshot = json.loads(lines("funding_oi.ndjson")[2])
    snapshot["data"]["singleOpenInterest"] = "26387.3"
    parser = Parser()

    assert parser.parse(json.dumps(snapshot))[1].open_interest == Decimal("26387.3")


def test_acks_pongs_and_refusals():
    parser = Parser("spot")

    ack = parser.parse('{"success":true,"ret_msg":"","conn_id":"c1","req_id":"k-0","op":"subscribe"}')
    linear_pong = parser.parse('{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"","op":"ping"}')
    spot_pong = parser.parse('{"req_id":"","op":"pong","args":["1675418560633"],"conn_id":"c1"}')
    refused = parser.parse('{"success":false,"ret_msg":"args size >10","conn_id":"c1","op":"subscribe"}')

    assert ack[0].kind == "ack" and linear_pong == spot_pong == [Control("pong")]
    assert refused == [Control("error", "args size >10")]


def test_rest_answers_parse_newest_first_rows_exactly():
    klines = [
        parse_kline_row(row, "linear:BTCUSD", "1h", now_ms=1670608800000)
        for row in result_list(body("rest_kline.json"))
    ]
    funding = [parse_funding_row(row, "linear:ETHPERP") for row in result_list(body("rest_funding_history.json"))]
    interest = [parse_open_interest_row(row, "linear:BTCUSD") for row in result_list(body("rest_open_interest.json"))]

    assert [c.open_ms for c in klines] == [1670608800000, 1670605200000, 1670601600000]
    assert klines[0].close_ms == 1670608800000 + 3_599_999 and not klines[0].closed and klines[1].closed
    assert (klines[0].open, klines[0].close, klines[0].volume) == (
        Decimal("17071"),
        Decimal("17055.5"),
        Decimal("268611"),
    )
    assert funding[0].time_ms == 1672041600000 and funding[0].funding_rate == Decimal("0.0001")
    assert interest[0].open_interest == Decimal("31955346") and interest[0].open_interest_both_sides == Decimal(
        "63910691.00000000"
    )
    assert [p.time_ms for p in interest] == sorted((p.time_ms for p in interest), reverse=True)
    for name in (
        "rest_orderbook.json",
        "rest_recent_trade.json",
    ):  # recorded, not used by Kirby: still well-formed answers
        assert body(name)["retCode"] == 0


def test_a_rest_answer_with_an_error_code_is_malformed():
    with pytest.raises(MalformedFrame, match="10001"):
        result_list({"retCode": 10001, "retMsg": "params error", "result": {}})


@pytest.mark.parametrize(
    "raw, reason",
    [
        ('{"topic":"kline.1.BTCUSDT","data":[{"start":1', "unparsable"),
        ("[1, 2]", "unparsable"),
        ('{"topic":"kline.1.DOGEUSDT","type":"snapshot","data":[]}', "unknown_symbol"),
        ('{"topic":"kline.60.BTCUSDT","type":"snapshot","data":[]}', "unsubscribed_interval"),
        ('{"topic":"kline.7.BTCUSDT","type":"snapshot","data":[]}', "unsubscribed_interval"),
        ('{"topic":"kline.1.BTCUSDT","data":[{"start":0,"end":59999,"open":"x","high":"1","low":"1",'
         '"close":"1","volume":"1","confirm":true}]}', "not_a_number"),
        ('{"topic":"tickers.BTCUSDT","type":"delta","data":{"fundingRate":"0.1"}}', "delta_before_snapshot"),
        ('{"topic":"liquidation.BTCUSDT","data":{}}', "unknown_topic"),
    ],
)  # fmt: skip
def test_bad_input_is_counted_by_reason_and_skipped_never_raised(raw, reason):
    parser = Parser("linear", symbols={"BTCUSDT"}, intervals={"1m"})

    assert parser.feed(raw) == []

    assert parser.rejected == {reason: 1}


def test_a_bad_delta_does_not_poison_the_merged_ticker():
    parser = Parser("linear")
    parser.feed(lines("funding_oi.ndjson")[2])

    parser.feed('{"topic":"tickers.BTCUSDT","type":"delta","data":{"markPrice":"NaN"}}')
    after, _ = parser.feed('{"topic":"tickers.BTCUSDT","type":"delta","data":{"fundingRate":"0.0002"}}')

    assert parser.rejected == {"not_a_number": 1}
    assert after.mark_price == Decimal("28552.81") and after.funding_rate == Decimal("0.0002")


def test_pairs_map_to_category_and_symbol_both_ways():
    assert coin_name("BTC", "USDT", "perps") == "linear:BTCUSDT"
    assert coin_name("eth", "usdt", "spot") == "spot:ETHUSDT"
    assert pair_of("linear:BTCUSDT") == ("BTC", "USDT", "perps")
    assert pair_of("spot:ETHUSDC") == ("ETH", "USDC", "spot")
    assert split_name("spot:BTCUSDT") == ("spot", "BTCUSDT")
    with pytest.raises(UnsupportedMarket):
        coin_name("BTC", "USD", "futures")
    with pytest.raises(UnsupportedMarket):
        split_name("inverse:BTCUSD")


def test_frames_follow_the_venues_rules():
    topics = [protocol.kline_topic(f"C{i}USDT", "1m") for i in range(23)]

    spot = [json.loads(frame) for frame in protocol.subscribe_frames([["spot", topic] for topic in topics])]
    linear = [json.loads(frame) for frame in protocol.subscribe_frames([["linear", topic] for topic in topics])]
    (gone,) = [json.loads(frame) for frame in protocol.unsubscribe_frames([["linear", topics[0]]])]

    assert [len(f["args"]) for f in spot] == [10, 10, 3] and all(f["op"] == "subscribe" for f in spot)
    assert len(linear) == 1 and linear[0]["args"][0] == "kline.1.C0USDT"
    assert (gone["op"], gone["args"]) == ("unsubscribe", ["kline.1.C0USDT"])
    assert protocol.kline_topic("BTCUSDT", "1d") == "kline.D.BTCUSDT" and protocol.ping_frame() == '{"op":"ping"}'


def test_bybit_is_streamed_per_category_with_candles_and_tickers(settings):
    settings.KIRBY_BYBIT_WS_URL = "ws://127.0.0.1:1/v5/public/"
    adapter = get_adapter("bybit")
    perp, spot = coin_name("BTC", "USDT", "perps"), coin_name("BTC", "USDT", "spot")

    assert "bybit" in LIVE_EXCHANGES
    assert adapter.protocol.ws_url(adapter.protocol.endpoint(spot)) == "ws://127.0.0.1:1/v5/public/spot"
    assert adapter.protocol.ws_url(adapter.protocol.endpoint(perp)) == "ws://127.0.0.1:1/v5/public/linear"
    assert adapter.protocol.candle_subscription(perp, "4h") == ["linear", "kline.240.BTCUSDT"]
    assert adapter.protocol.context_subscription(perp) == ["linear", "tickers.BTCUSDT"]
    assert adapter.symbols.has_asset_context("perps") and not adapter.symbols.has_asset_context("spot")
    # The client pings (Bybit wants one every 20 s); no maximum connection age, nothing polled over REST.
    assert adapter.protocol.ping_frame() == '{"op":"ping"}' and settings.KIRBY_COLLECTOR_PING_SECONDS <= 20
    assert adapter.protocol.connection_seconds() is None and adapter.protocol.poll_seconds() is None
