"""Query-parameter parsing shared by every read endpoint.

Times: ISO-8601 (naive means UTC; ``Z`` or an offset accepted), a bare date,
or a Unix epoch in seconds or milliseconds (above 2e10 means
milliseconds), fractional too (``1700000000.5``), as Kirby 1.x accepted.
Windows are half-open ``[start_time, end_time)``.

Times are accepted from 1970-01-01 to before 9000-01-01 UTC: wide enough for
any "from the beginning" or "until forever" a client means, and far enough
from ``datetime``'s own limits that window arithmetic (an interval, a number
of days) never overflows into a 500.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from lib.http.errors import InvalidParameters

MILLISECONDS_THRESHOLD = 20_000_000_000
DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # exclusive
MAX_ID = 2**63 - 1  # bigint
_RANGE = "must be between 1970-01-01 and 9000-01-01 UTC"


def parse_time(raw):
    """Parse one time value to an aware UTC datetime; raise ValueError with a reason."""
    text = raw.strip()
    if not text:
        raise ValueError("must not be empty")
    whole, dot, fraction = text.partition(".")
    if text.isascii() and whole.lstrip("-").isdigit() and (not dot or fraction.isdigit()):
        # isdigit alone takes "²", which int() refuses; Decimal keeps a fraction exact to the microsecond
        number = Decimal(text)
        if number < 0:
            raise ValueError("epoch time must not be negative")
        seconds = number / 1000 if number > MILLISECONDS_THRESHOLD else number
        try:
            micros = int(seconds.scaleb(6).to_integral_value(ROUND_HALF_EVEN))
            return _bounded(EARLIEST + timedelta(microseconds=micros))
        except (OverflowError, OSError, ValueError, InvalidOperation):
            raise ValueError(f"epoch time is out of range: {_RANGE}") from None
    try:
        parsed = datetime.fromisoformat(text)  # also takes a bare date, a space separator and Z
    except ValueError:
        raise ValueError(
            "must be an ISO-8601 time (2025-11-17T22:29:00Z), a date (2025-11-17)"
            " or a Unix epoch in seconds or milliseconds (1700000000 or 1700000000.5)"
        ) from None
    if parsed.tzinfo is None:
        return _bounded(parsed.replace(tzinfo=UTC))
    try:
        return _bounded(parsed.astimezone(UTC))
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise ValueError(_RANGE) from None


def _bounded(moment):
    if not EARLIEST <= moment < LATEST:
        raise ValueError(_RANGE)
    return moment


def parse_id(raw):
    """A positive database id from a path segment; ValueError otherwise.

    ``str.isdigit`` alone is not enough: it accepts Unicode digits such as
    "²" that ``int`` refuses, hence the ASCII check.
    """
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_ID:
        raise ValueError("must be a positive integer")
    return int(raw)


def path_id(raw, name):
    """``parse_id`` for a view: a 400 naming the path parameter."""
    try:
        return parse_id(raw)
    except ValueError as error:
        raise InvalidParameters([("path", name, str(error))]) from None


def parse_bool(raw):
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError("must be true or false")


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None
    limit: int


class QueryParams:
    """Collects every bad parameter of a request before failing, so one 400 names them all."""

    def __init__(self, request):
        self.query = request.GET
        self.errors = []

    def _get(self, name, parse, default=None):
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as error:
            self.errors.append(("query", name, str(error)))
            return default

    def time(self, name):
        return self._get(name, parse_time)

    def boolean(self, name, default):
        return self._get(name, parse_bool, default)

    def integer(self, name, default, minimum, maximum):
        def parse(raw):
            text = raw.strip()
            if not (text.isascii() and text.lstrip("-").isdigit()):  # int() also takes "1_000" and "١"
                raise ValueError("must be an integer")
            value = int(text)
            if not minimum <= value <= maximum:
                raise ValueError(f"must be between {minimum} and {maximum}")
            return value

        return self._get(name, parse, default)

    def window(self):
        start, end = self.time("start_time"), self.time("end_time")
        limit = self.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        if start is not None and end is not None and start >= end:
            self.errors.append(("query", "end_time", "must be after start_time (the window is [start_time, end_time))"))
        return Window(start, end, limit)

    def raise_if_invalid(self):
        if self.errors:
            raise InvalidParameters(self.errors)
