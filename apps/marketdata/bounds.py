"""Bounds a record must be within before the database sees it.

The database refuses some values outright (an integer beyond bigint, a
string that is not a number) and accepts others that would hurt (a time in
year 1 or 9999 makes the write path create a partition for every month in
between). Each record is checked here, in Python and per column kind, so
the write path can set such a row aside with its reason and store the rest.
"""

from datetime import UTC, datetime

from django.conf import settings

from apps.marketdata.tables import INTEGER, TIME

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def time_range(now=None):
    """Earliest and latest acceptable times: from KIRBY_RECORD_EARLIEST_YEAR to the end of KIRBY_RECORD_YEARS_AHEAD."""
    now = now or datetime.now(UTC)
    earliest = datetime(settings.KIRBY_RECORD_EARLIEST_YEAR, 1, 1, tzinfo=UTC)
    latest = datetime(min(9999, now.year + settings.KIRBY_RECORD_YEARS_AHEAD), 12, 31, 23, 59, 59, tzinfo=UTC)
    return earliest, latest


def series_within(series_id, first, last, earliest, latest):
    """The bounds of a batch of one series, checked once for all its rows: its id a 64-bit integer, its
    times (``first`` to ``last``) within ``time_range()`` (``earliest``, ``latest``)."""
    return type(series_id) is int and BIGINT_MIN <= series_id <= BIGINT_MAX and earliest <= first and last <= latest


def checker(spec):
    """A function record -> reason (str) when the record is out of bounds, else None."""
    earliest, latest = time_range()
    # Only what the database would refuse or regret: decimals and booleans it checks itself, and a
    # batch it refuses is split by the write path until the row is found.
    columns = [(i, c) for i, c in enumerate(spec.table_columns) if c.kind in (INTEGER, TIME)]
    width = len(spec.table_columns)

    def check(record):
        if len(record) != width:
            return f"{len(record)} fields, expected {width}"
        for index, column in columns:
            value = record[index]
            if value is None:  # the table's sanity rule decides
                continue
            kind = column.kind
            if kind == INTEGER:
                if type(value) is not int:
                    return f"{column.name}: not an integer: {value!r}"
                if not BIGINT_MIN <= value <= BIGINT_MAX:
                    return f"{column.name}: {value} is beyond the 64-bit integer range"
            elif kind == TIME:
                if not isinstance(value, datetime) or value.tzinfo is None:
                    return f"{column.name}: not a timezone-aware datetime: {value!r}"
                if not earliest <= value <= latest:
                    return (
                        f"{column.name}: {value.isoformat()} is outside {earliest:%Y-%m-%d}..{latest:%Y-%m-%d}"
                        " (KIRBY_RECORD_EARLIEST_YEAR, KIRBY_RECORD_YEARS_AHEAD)"
                    )
        return None

    return check


def all_within(spec, records):
    """True when every record passes ``checker(spec)``, checked column by column for the whole batch (the
    usual case, at a fraction of the cost per record); False says only that some record may not."""
    earliest, latest = time_range()
    width = len(spec.table_columns)
    if any(len(record) != width for record in records):
        return False
    for index, column in enumerate(spec.table_columns):
        if column.kind not in (INTEGER, TIME):
            continue
        values = [record[index] for record in records if record[index] is not None]  # None: the sanity rule's
        if not values:
            continue
        if column.kind == INTEGER:
            if any(type(value) is not int for value in values) or min(values) < BIGINT_MIN or max(values) > BIGINT_MAX:
                return False
        elif any(not isinstance(value, datetime) or value.tzinfo is None for value in values):
            return False
        else:
            try:
                if min(values) < earliest or max(values) > latest:
                    return False
            except TypeError:  # an offset-less tzinfo: the record by record check says what it is
                return False
    return True
