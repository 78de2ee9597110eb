"""Hyperliquid parser against every recorded message in tests/fixtures/exchanges/hyperliquid/."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.exchanges.events import AssetContext, CandleUpdate, Control, MalformedFrame
from apps.collectors.exchanges.hyperliquid.parser import GREETING, parse_candle, parse_frame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges" / "hyperliquid"


def lines(name):
    return (FIXTURES / name).read_text().splitlines()


def test_every_recorded_candle_becomes_one_exact_update():
    updates = [event for line in lines("candles.ndjson") for event in parse_frame(line)]

    assert len(updates) == 6
    assert all(isinstance(u, CandleUpdate) for u in updates)
    first, last = updates[0], updates[-1]
    assert first == CandleUpdate(
        "AAVE", "1m", 1742428740000, 1742428799999, Decimal("182.58"), Decimal("182.58"), Decimal("182.58"),
        Decimal("182.58"), Decimal("0.21"), 1, None,
    )  # fmt: skip
    assert [u.open_ms for u in updates[1:]] == [1742428800000] * 5
    assert [u.num_trades for u in updates[1:]] == [1, 2, 4, 5, 6]
    assert last.close_ms - last.open_ms == 59_999


def test_key_order_does_not_matter():
    line = lines("candles.ndjson")[2]
    data = json.loads(line)["data"]
    reordered = {key: data[key] for key in ["t", "T", "s", "i", "o", "c", "h", "l", "v", "n"]}
    assert list(reordered) != list(data)

    assert parse_frame(json.dumps({"data": reordered, "channel": "candle"})) == parse_frame(line)


def test_funding_and_open_interest_arrive_together():
    moodeng, btc = (parse_frame(line)[0] for line in lines("funding_oi.ndjson"))

    assert btc == AssetContext(
        coin="BTC",
        funding_rate=Decimal("0.0000052974"),
        open_interest=Decimal("36295.80812"),
        mark_price=Decimal("80640.0"),
        oracle_price=Decimal("80684.7"),
        mid_price=Decimal("80639.5"),
        premium=Decimal("-0.0005540084"),
        day_base_volume=Decimal("56265.69068"),
        day_notional_volume=Decimal("4490636699.3287734985"),
    )
    assert moodeng.coin == "MOODENG" and moodeng.day_base_volume is None  # older frames lack dayBaseVlm


def test_null_premium_and_mid_price_are_kept_as_null_not_dropped():
    frame = json.loads(lines("funding_oi.ndjson")[1])
    frame["data"]["ctx"].update(premium=None, midPx=None, impactPxs=None)

    (context,) = parse_frame(json.dumps(frame))

    assert (context.premium, context.mid_price) == (None, None)
    assert context.funding_rate == Decimal("0.0000052974")


def test_builder_deployed_coin_names_parse():
    frame = json.loads(lines("candles.ndjson")[0])
    frame["data"]["s"] = "xyz:TSLA"

    assert parse_frame(json.dumps(frame))[0].coin == "xyz:TSLA"


def test_control_frames_are_recognised():
    events = [event for line in lines("control.ndjson") for event in parse_frame(line)]

    assert [e.kind for e in events] == ["ack", "ack", "pong", "error"]
    assert events[0].detail == {"method": "subscribe", "subscription": {"type": "bbo", "coin": "BTC"}}
    assert "Already unsubscribed" in events[3].detail


def test_the_greeting_text_is_not_malformed():
    assert parse_frame(GREETING) == [Control("greeting")]


@pytest.mark.parametrize("name", ["bbo.ndjson"])
def test_channels_not_collected_yet_are_valid_and_yield_nothing(name):
    assert all(parse_frame(line) == [] for line in lines(name))


def test_rest_candle_snapshots_parse_with_the_same_function():
    candles = [parse_candle(item) for item in json.loads((FIXTURES / "rest_candleSnapshot.json").read_text())]

    assert len(candles) == 24
    assert candles[0].coin == "kPEPE" and candles[0].close == Decimal("0.001604")
    assert all(b.open_ms - a.open_ms == 3_600_000 for a, b in zip(candles, candles[1:]))


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"channel": "mystery", "data": {}}', "unknown channel"),
        ('{"channel": ["trades"], "data": []}', "unknown channel"),  # not a name: once a TypeError, a reconnect
        ('{"channel": "candle", "data": null}', "not an object"),
        (
            '{"channel": "candle", "data": {"t": "x", "T": 1, "s": "BTC", "i": "1m", "o": "1", "c": "1", "h": "1", '
            '"l": "1", "v": "1", "n": 1}}',
            "t is not an integer",
        ),  # fmt: skip
        (
            '{"channel": "candle", "data": {"t": 1, "T": 1, "s": "BTC", "i": "1m", "o": "1", "h": "1", "l": "1", '
            '"v": "1", "n": 1}}',
            "c is missing",
        ),  # fmt: skip
        (
            '{"channel": "candle", "data": {"t": 1, "T": 1, "s": "BTC", "i": "1m", "o": "NaN", "c": "1", "h": "1", '
            '"l": "1", "v": "1", "n": 1}}',
            "o is not finite",
        ),  # fmt: skip
        ('{"channel": "activeAssetCtx", "data": {"coin": "BTC"}}', "without a ctx"),
        ('{"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {"openInterest": "1"}}}', "funding is missing"),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(raw, reason):
    with pytest.raises(MalformedFrame, match=reason):
        parse_frame(raw)
