"""Funding / open interest: the row at T holds the last update received in [T - period, T)."""

from datetime import UTC, datetime
from decimal import Decimal

from apps.collectors.exchanges.events import AssetContext
from apps.collectors.normalize import context_records
from apps.collectors.sampling import ContextSampler

MINUTE = 60_000


def test_the_last_update_of_a_minute_is_kept_and_emitted_when_the_minute_ends():
    sampler = ContextSampler(60)
    sampler.feed("BTC", "a", received_ms=1_000)
    sampler.feed("BTC", "b", received_ms=59_999)

    assert sampler.expire(now_ms=59_999) == []
    assert sampler.expire(now_ms=MINUTE) == [("BTC", MINUTE, "b", 59_999)]
    assert sampler.expire(now_ms=MINUTE * 5) == []  # a minute without updates has no row


def test_an_update_in_a_new_minute_emits_the_previous_one():
    sampler = ContextSampler(60)
    sampler.feed("BTC", "a", received_ms=30_000)

    assert sampler.feed("BTC", "b", received_ms=MINUTE) == [("BTC", MINUTE, "a", 30_000)]
    assert sampler.drain() == [("BTC", 2 * MINUTE, "b", MINUTE)]


def context(mark="80640.0", premium="-0.0005540084"):
    return AssetContext(
        coin="BTC",
        funding_rate=Decimal("0.0000052974"),
        open_interest=Decimal("36295.80812"),
        mark_price=None if mark is None else Decimal(mark),
        oracle_price=Decimal("80684.7"),
        mid_price=None,
        premium=None if premium is None else Decimal(premium),
        day_base_volume=Decimal("56265.69068"),
        day_notional_volume=Decimal("4490636699.3287734985"),
    )


def test_rows_fill_notional_value_and_next_funding_time_exactly():
    period_end = int(datetime(2026, 11, 20, 10, 31, tzinfo=UTC).timestamp() * 1000)

    funding, open_interest = context_records(context(), period_end, period_end - 5_000, [7])

    assert funding.time == datetime(2026, 11, 20, 10, 31, tzinfo=UTC)
    assert funding.next_funding_time == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    assert (funding.funding_rate, funding.premium, funding.mid_price) == (
        Decimal("0.0000052974"),
        Decimal("-0.0005540084"),
        None,
    )  # noqa: E501
    assert open_interest.notional_value == Decimal("36295.80812") * Decimal("80640.0")
    assert str(open_interest.notional_value) == "2926893966.796800"
    assert open_interest.day_notional_volume == Decimal("4490636699.3287734985")


def test_a_missing_mark_price_leaves_notional_value_null():
    _, open_interest = context_records(context(mark=None, premium=None), MINUTE, 1, [7])

    assert open_interest.notional_value is None and open_interest.open_interest == Decimal("36295.80812")
