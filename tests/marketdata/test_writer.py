"""The one write path: idempotent upserts, open-candle updates, rejected rows."""

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.marketdata.models import Candle, FundingRate, OpenInterest
from apps.marketdata.partitions import existing_partitions
from apps.marketdata.records import FundingRecord, OpenInterestRecord
from apps.marketdata.writer import market_data_written, write_candles, write_funding, write_open_interest
from tests.conftest import candle, utc

T0 = utc(2026, 11, 20, 12, 0)


def minutes(n):
    return [T0 + timedelta(minutes=i) for i in range(n)]


def stored_candles(starlisting):
    return list(Candle.objects.filter(starlisting=starlisting).order_by("time").values_list(
        "time", "open", "high", "low", "close", "volume", "num_trades", "closed"
    ))  # fmt: skip


def test_it_stores_new_candles_and_counts_them(world):
    result = write_candles([candle(world.btc_1m, t) for t in minutes(3)])

    assert (result.received, result.inserted, result.updated, result.rejected) == (3, 3, 0, 0)
    assert [row[0] for row in stored_candles(world.btc_1m)] == minutes(3)


def test_rewriting_the_same_rows_changes_nothing(world):
    rows = [candle(world.btc_1m, t) for t in minutes(5)]
    write_candles(rows)
    before = stored_candles(world.btc_1m)

    again = write_candles(rows)

    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    assert again.rows == []
    assert stored_candles(world.btc_1m) == before


def test_a_newer_update_of_an_open_candle_replaces_it(world):
    write_candles([candle(world.btc_1m, T0, close="105", high="110", closed=False)])

    result = write_candles([candle(world.btc_1m, T0, close="111", high="112", volume="20", closed=False)])

    assert (result.inserted, result.updated) == (0, 1)
    (row,) = stored_candles(world.btc_1m)
    assert (row[2], row[4], row[5], row[7]) == (Decimal("112"), Decimal("111"), Decimal("20"), False)


def test_a_closed_candle_is_not_reopened_by_a_late_open_update(world):
    write_candles([candle(world.btc_1m, T0, close="106", closed=True)])

    result = write_candles([candle(world.btc_1m, T0, close="104", closed=False)])

    assert result.updated == 0
    (row,) = stored_candles(world.btc_1m)
    assert (row[4], row[7]) == (Decimal("106"), True)


def test_a_closed_candle_can_be_corrected_by_a_closed_one(world):
    write_candles([candle(world.btc_1m, T0, close="106")])

    result = write_candles([candle(world.btc_1m, T0, close="107")])

    assert result.updated == 1
    assert stored_candles(world.btc_1m)[0][4] == Decimal("107")


def test_the_last_version_of_a_row_wins_within_one_batch(world):
    result = write_candles(
        [
            candle(world.btc_1m, T0, close="101", closed=False),
            candle(world.btc_1m, T0, close="102", closed=False),
            candle(world.btc_1m, T0, close="103", closed=True),
        ]
    )

    assert (result.received, result.inserted, result.unchanged) == (3, 1, 2)
    assert stored_candles(world.btc_1m)[0][4] == Decimal("103")


@pytest.mark.parametrize(
    "bad",
    [
        {"high": "80", "low": "90"},  # high below low
        {"volume": "-1"},  # negative volume
        {"low": "0", "open": "0"},  # non-positive price
        {"low": "-5"},
        {"close": "200"},  # close above high
        {"open": "50"},  # open below low
        {"high": "NaN"},
        {"high": "Infinity"},
        {"volume": "NaN"},
    ],
)
def test_rows_breaking_ohlc_sanity_are_rejected_and_counted_without_aborting_the_batch(world, bad):
    good_before, good_after = minutes(3)[0], minutes(3)[2]
    rows = [
        candle(world.btc_1m, good_before),
        candle(world.btc_1m, minutes(3)[1], **bad),
        candle(world.btc_1m, good_after),
    ]

    result = write_candles(rows)

    assert (result.received, result.inserted, result.rejected) == (3, 2, 1)
    assert [row[0] for row in stored_candles(world.btc_1m)] == [good_before, good_after]


def test_a_row_with_a_missing_required_value_is_rejected(world):
    row = candle(world.btc_1m, T0)._replace(close=None)

    result = write_candles([row, candle(world.btc_1m, minutes(2)[1])])

    assert (result.rejected, result.inserted) == (1, 1)


def test_decimals_are_stored_exactly_as_published(world):
    write_candles(
        [
            candle(
                world.btc_1m,
                T0,
                open="0.000012345",
                high="0.00001300",
                low="0.000012",
                close="0.0000125",
                volume="123456789.123456789",
            )
        ]  # fmt: skip
    )

    (row,) = stored_candles(world.btc_1m)
    assert [str(v) for v in row[1:6]] == ["0.000012345", "0.00001300", "0.000012", "0.0000125", "123456789.123456789"]


def test_rows_of_months_without_a_partition_get_one(world):
    old = utc(2019, 3, 15, 10, 0)
    assert "candles_p2019_03" not in existing_partitions("candles")

    result = write_candles([candle(world.btc_1m, old)])

    assert result.inserted == 1
    assert "candles_p2019_03" in existing_partitions("candles")
    assert stored_candles(world.btc_1m)[0][0] == old


def test_one_batch_may_span_several_series_and_months(world):
    rows = [candle(world.btc_1m, utc(2020, 1, 31, 23, 59)), candle(world.sol_1m, utc(2020, 2, 1, 0, 0))]

    result = write_candles(rows)

    assert result.inserted == 2
    assert Candle.objects.count() == 2


def test_changed_rows_are_announced_only_after_commit(world, django_capture_on_commit_callbacks):
    received = []

    def listener(sender, rows, **kwargs):
        received.append((sender, rows))

    market_data_written.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            write_candles([candle(world.btc_1m, t) for t in minutes(2)])
        assert received == []
        for callback in callbacks:
            callback()
        with django_capture_on_commit_callbacks(execute=True):
            write_candles([candle(world.btc_1m, t) for t in minutes(2)])  # unchanged: nothing to announce
    finally:
        market_data_written.disconnect(listener)

    assert len(received) == 1
    sender, rows = received[0]
    assert sender == "candles"
    assert [row.time for row in rows] == minutes(2)


def test_backfill_writes_can_skip_announcing(world, django_capture_on_commit_callbacks):
    received = []

    def listener(sender, rows, **kwargs):
        received.append(rows)

    market_data_written.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            result = write_candles([candle(world.btc_1m, T0)], publish=False)
    finally:
        market_data_written.disconnect(listener)

    assert result.inserted == 1
    assert received == []
    assert len(callbacks) == 1  # only the response cache's: cached answers of the series are dropped all the same


def test_funding_rows_keep_nulls_and_exact_values(world):
    rows = [
        FundingRecord(
            world.btc_pair.id,
            T0,
            Decimal("0.0000125"),
            None,
            Decimal("91234.5"),
            None,
            Decimal("91230.1"),
            None,
            T0 + timedelta(hours=1),
        ),  # fmt: skip
    ]

    result = write_funding(rows)
    again = write_funding(rows)

    assert (result.inserted, again.inserted, again.updated) == (1, 0, 0)
    stored = FundingRate.objects.get(trading_pair=world.btc_pair)
    assert stored.funding_rate == Decimal("0.0000125")
    assert stored.premium is None and stored.index_price is None and stored.mid_price is None
    assert stored.next_funding_time == T0 + timedelta(hours=1)


def test_funding_rows_without_a_rate_or_with_a_negative_price_are_rejected(world):
    rows = [
        FundingRecord(world.btc_pair.id, T0, None),
        FundingRecord(world.btc_pair.id, T0 + timedelta(minutes=1), Decimal("0.0001"), mark_price=Decimal("-1")),
        FundingRecord(world.btc_pair.id, T0 + timedelta(minutes=2), Decimal("-0.0001"), premium=Decimal("-0.0002")),
    ]

    result = write_funding(rows)

    assert (result.rejected, result.inserted) == (2, 1)


def test_open_interest_zero_stays_zero_and_updates_replace(world):
    write_open_interest([OpenInterestRecord(world.sol_pair.id, T0, Decimal("0"), Decimal("0"))])
    result = write_open_interest([OpenInterestRecord(world.sol_pair.id, T0, Decimal("1500.5"), Decimal("270000.9"))])
    rejected = write_open_interest([OpenInterestRecord(world.sol_pair.id, T0, Decimal("-1"))])

    assert result.updated == 1 and rejected.rejected == 1
    stored = OpenInterest.objects.get(trading_pair=world.sol_pair)
    assert (stored.open_interest, stored.notional_value) == (Decimal("1500.5"), Decimal("270000.9"))
    zero = write_open_interest([OpenInterestRecord(world.sol_pair.id, T0 + timedelta(minutes=1), Decimal("0"))])
    assert zero.inserted == 1
    assert OpenInterest.objects.get(time=T0 + timedelta(minutes=1)).open_interest == Decimal("0")


def test_an_empty_batch_writes_nothing(world):
    assert write_candles([]).received == 0


def test_rows_of_a_series_that_does_not_exist_are_rejected(world):
    result = write_candles([candle(world.btc_1m, T0), candle(987654321, T0)])

    assert (result.inserted, result.rejected) == (1, 1)
    assert not Candle.objects.filter(starlisting_id=987654321).exists()


def test_appending_new_rows_and_merging_into_stored_ones_agree(world):
    write_candles([candle(world.btc_1m, t) for t in minutes(3)])
    # The next batch overlaps the stored rows (merge) and the one after only appends (plain insert).
    overlap = write_candles([candle(world.btc_1m, t, close="101") for t in minutes(5)])
    append = write_candles([candle(world.btc_1m, T0 + timedelta(minutes=10), close="102")])

    assert (overlap.inserted, overlap.updated, append.inserted) == (2, 3, 1)
    assert [row[4] for row in stored_candles(world.btc_1m)] == [Decimal("101")] * 5 + [Decimal("102")]
