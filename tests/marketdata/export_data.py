"""Rows that exercise an export's exactness: tiny and huge decimals, zeros, NULLs, an open candle.

Written the same way into whichever database a test asks for; ``expected``
reads them back with the ORM (independently of the export's SQL).
"""

from datetime import timedelta
from decimal import Decimal

from apps.marketdata.models import Candle, FundingRate, OpenInterest
from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord
from apps.marketdata.writer import write_candles, write_funding, write_open_interest
from tests.conftest import utc

START = utc(2024, 5, 31, 23, 58)  # the window crosses a monthly partition boundary
END = START + timedelta(minutes=6)
CANDLE_FIELDS = ("time", "open", "high", "low", "close", "volume", "num_trades", "closed")
FUNDING_FIELDS = ("time", "funding_rate", "premium", "mark_price", "index_price", "oracle_price", "mid_price",
                  "next_funding_time")  # fmt: skip
OI_FIELDS = ("time", "open_interest", "notional_value", "day_base_volume", "day_notional_volume")


def D(text):
    return Decimal(text)


def write_rows(starlisting_id, pair_id, using):
    minute = timedelta(minutes=1)
    candles = [
        CandleRecord(starlisting_id, START - minute, D("1"), D("1"), D("1"), D("1"), D("1"), 1, True),  # before
        CandleRecord(
            starlisting_id, START, D("0.00000001"), D("0.00000002"), D("0.00000001"), D("0.00000002"), D("0"), 0, True
        ),  # fmt: skip
        CandleRecord(
            starlisting_id,
            START + minute,
            D("65000.50"),
            D("65010"),
            D("64990.125"),
            D("65001.000"),
            D("12.3456789"),
            None,
            True,
        ),  # fmt: skip
        CandleRecord(
            starlisting_id,
            START + 2 * minute,
            D("12345678901234567890.123456789012345678"),
            D("12345678901234567890.123456789012345678"),
            D("12345678901234567890.123456789012345678"),
            D("12345678901234567890.123456789012345678"),
            D("0.000000000000000001"),
            5,
            True,
        ),  # fmt: skip
        CandleRecord(
            starlisting_id, START + 5 * minute, D("7.6080"), D("7.6170"), D("7.6070"), D("7.6100"), D("1458"), 51, False
        ),  # fmt: skip
        CandleRecord(starlisting_id, END, D("2"), D("2"), D("2"), D("2"), D("2"), 2, False),  # at end: excluded
    ]
    funding = [
        FundingRecord(
            pair_id,
            START - 30 * minute,
            D("0.0000125"),
            D("-0.0005540084"),
            D("80640.0"),
            None,
            D("80684.7"),
            D("80639.5"),
            START + 30 * minute,
        ),  # fmt: skip
        FundingRecord(pair_id, START + minute, D("0"), None, None, None, None, None, None),
        FundingRecord(
            pair_id,
            START + 3 * minute,
            D("-0.00061334"),
            D("0"),
            D("1.5"),
            D("1.5"),
            D("1.5"),
            D("1.5"),
            START + 62 * minute,
        ),  # fmt: skip
    ]
    open_interest = [
        OpenInterestRecord(pair_id, START, D("36295.80812"), D("2926897426.2"), None, D("4490636699.3287734985")),
        OpenInterestRecord(pair_id, START + 2 * minute, D("0"), D("0"), D("0"), None),
    ]
    write_candles(candles, publish=False, using=using)
    write_funding(funding, publish=False, using=using)
    write_open_interest(open_interest, publish=False, using=using)


def _rows(model, fields, using, **filters):
    query = model.objects.using(using).filter(time__gte=START, time__lt=END, **filters).order_by("time")
    return [dict(zip(fields, row)) for row in query.values_list(*fields)]


def _as_of(rows, moment, fields):
    before = [row for row in rows if row["time"] <= moment]
    latest = before[-1] if before else None
    return {name: (latest[name] if latest else None) for name in fields[1:]}


def expected(export_type, starlisting_id, pair_id, using):
    """The rows the export of ``[START, END)`` must contain, as dicts of Python values."""
    if export_type == "candles":
        return _rows(Candle, CANDLE_FIELDS, using, starlisting_id=starlisting_id)
    if export_type == "funding":
        return _rows(FundingRate, FUNDING_FIELDS, using, trading_pair_id=pair_id)
    if export_type == "open_interest":
        return _rows(OpenInterest, OI_FIELDS, using, trading_pair_id=pair_id)
    funding = [dict(zip(FUNDING_FIELDS, r)) for r in FundingRate.objects.using(using).filter(
        trading_pair_id=pair_id).order_by("time").values_list(*FUNDING_FIELDS)]  # fmt: skip
    interest = [dict(zip(OI_FIELDS, r)) for r in OpenInterest.objects.using(using).filter(
        trading_pair_id=pair_id).order_by("time").values_list(*OI_FIELDS)]  # fmt: skip
    return [
        {**row, **_as_of(funding, row["time"], FUNDING_FIELDS), **_as_of(interest, row["time"], OI_FIELDS)}
        for row in _rows(Candle, CANDLE_FIELDS, using, starlisting_id=starlisting_id)
    ]
