"""Rows given as COPY text (the 1.x import's fast path) obey the same rules as records."""

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.marketdata.models import Candle, DeadLetter, FundingRate
from apps.marketdata.tables import CANDLES, FUNDING
from apps.marketdata.writer import write_copy_text
from tests.conftest import utc

T0 = utc(2026, 11, 20, 12, 0)


def line(starlisting, at, low="99.5", num_trades="12", closed="t"):
    time = at.isoformat(sep=" ")
    return "\t".join(
        [str(starlisting.id), time, "100.000000000000000000", "101", low, "100.5", "3", num_trades, closed]
    )


def test_copy_text_rows_are_stored_exactly_and_writing_them_again_changes_nothing(world):
    text = "\n".join(
        [
            line(world.btc_1m, T0),
            line(world.btc_1m, T0 + timedelta(minutes=1), num_trades="\\N", closed="f"),
            line(world.btc_1m, T0 + timedelta(minutes=2), low="102"),  # low above high: the sanity rule refuses it
        ]
    )

    first = write_copy_text(CANDLES, text, exchange="kirby-1.x-import")
    again = write_copy_text(CANDLES, text, exchange="kirby-1.x-import")

    assert (first.received, first.inserted, first.rejected) == (3, 2, 1)
    assert (again.written, again.unchanged, again.rejected) == (0, 2, 1)
    stored = list(Candle.objects.order_by("time").values_list("time", "open", "num_trades", "closed"))
    assert stored == [(T0, Decimal("100"), 12, True), (T0 + timedelta(minutes=1), Decimal("100"), None, False)]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"year": 1}, "0001-11-20"),  # out of bounds: no partition for year 1 is made
        ({"num_trades": "99999999999999999999"}, "num_trades: 99999999999999999999 is beyond the 64-bit"),  # refused
    ],
)
def test_a_batch_with_a_row_out_of_bounds_or_refused_sets_that_row_aside_with_its_reason(world, bad, reason):
    at = T0.replace(year=bad.get("year", T0.year)) + timedelta(minutes=1)
    text = "\n".join(
        [
            line(world.btc_1m, T0),
            line(world.btc_1m, at, num_trades=bad.get("num_trades", "12")),
            line(world.btc_1m, T0 + timedelta(minutes=2)),
        ]
    )

    result = write_copy_text(CANDLES, text, exchange="kirby-1.x-import")

    assert (result.received, result.inserted, result.dead_lettered) == (3, 2, 1)
    assert sorted(Candle.objects.values_list("time", flat=True)) == [T0, T0 + timedelta(minutes=2)]
    (dead,) = DeadLetter.objects.all()
    assert reason in dead.reason and dead.exchange == "kirby-1.x-import"


def test_a_clean_batch_goes_straight_in_and_writing_it_again_changes_nothing(world):
    text = "\n".join([line(world.btc_1m, T0), line(world.sol_1m, T0), line(world.btc_1m, T0 + timedelta(minutes=1))])

    first = write_copy_text(CANDLES, text, publish=False, exchange="kirby-1.x-import")
    again = write_copy_text(CANDLES, text + "\n", publish=False, exchange="kirby-1.x-import")

    assert (first.received, first.inserted, first.rejected) == (3, 3, 0)
    assert (again.received, again.written, again.unchanged) == (3, 0, 3)
    assert sorted(Candle.objects.values_list("starlisting_id", "time", "low")) == sorted(
        [
            (world.btc_1m.id, T0, Decimal("99.5")),
            (world.sol_1m.id, T0, Decimal("99.5")),
            (world.btc_1m.id, T0 + timedelta(minutes=1), Decimal("99.5")),
        ]
    )


def test_rows_of_a_series_that_does_not_exist_are_rejected_and_the_rest_stored(world):
    text = "\n".join([line(world.btc_1m, T0), line(world.btc_1m, T0).replace(str(world.btc_1m.id), "987654", 1)])

    result = write_copy_text(CANDLES, text, publish=False, exchange="kirby-1.x-import")

    assert (result.received, result.inserted, result.rejected) == (2, 1, 1)
    assert list(Candle.objects.values_list("starlisting_id", flat=True)) == [world.btc_1m.id]


def test_a_key_given_twice_in_one_batch_is_stored_once_with_its_later_values(world):
    text = "\n".join([line(world.btc_1m, T0, low="99.5"), line(world.btc_1m, T0, low="99.25")])

    result = write_copy_text(CANDLES, text, publish=False, exchange="kirby-1.x-import")

    assert (result.received, result.inserted, result.unchanged) == (2, 1, 1)
    assert list(Candle.objects.values_list("low", flat=True)) == [Decimal("99.25")]


def test_rows_in_a_month_without_a_partition_are_stored_in_a_new_one(world):
    old = utc(2015, 3, 9, 8, 0)  # a month the test database has no partition for

    result = write_copy_text(CANDLES, line(world.btc_1m, old), publish=False, exchange="kirby-1.x-import")

    assert (result.received, result.inserted) == (1, 1)
    assert list(Candle.objects.values_list("time", flat=True)) == [old]


def test_funding_rows_with_an_unknown_next_funding_time_are_stored_as_given(world):
    rows = [
        [str(world.btc_pair.id), T0.isoformat(sep=" "), "0.0000125", "\\N", "91587", "\\N", "\\N", "\\N", "\\N"],
        [str(world.btc_pair.id), (T0 + timedelta(hours=1)).isoformat(sep=" "), "-0.00002", "\\N"]
        + ["91600", "\\N", "\\N", "\\N", (T0 + timedelta(hours=2)).isoformat(sep=" ")],
    ]

    result = write_copy_text(FUNDING, "\n".join("\t".join(row) for row in rows), publish=False)

    assert (result.received, result.inserted) == (2, 2)
    assert list(FundingRate.objects.order_by("time").values_list("funding_rate", "next_funding_time")) == [
        (Decimal("0.0000125"), None),
        (Decimal("-0.00002"), T0 + timedelta(hours=2)),
    ]
