"""A deterministic market: every trade is a pure function of (seed, coin, minute).

Collectors and tests need ground truth for any past or present candle without storing history, so
nothing here depends on when it is called. Prices and sizes are generated as integers (price ticks
and size units of the coin) with hashes only, then turned into exact ``Decimal`` values; candles of
every interval are aggregations of the same trades, cached per minute, hour and day.
"""

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from . import intervals
from .intervals import DAY, HOUR, MINUTE

PPM = 1_000_000
OCTAVES = ((4320, 150_000), (240, 20_000), (15, 3_000))
TICK_JITTER_PPM = 800
EMPTY_MINUTE_BELOW = 13
KNOWN_COINS = {"BTC": (6000, 4, 40), "ETH": (3000, 3, 25), "SOL": (1500, 2, 20)}


def digest(*parts, size: int = 64) -> bytes:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=size).digest()


def number(*parts) -> int:
    return int.from_bytes(digest(*parts, size=8), "big")


def scaled(units: int, places: int) -> Decimal:
    """``units * 10**-places`` exactly: built from text, so no decimal context can round it."""
    return Decimal(f"{units}e-{places}")


def decimal_text(value: Decimal) -> str:
    """Fixed-point text, never exponent notation (``Decimal('1E-7')`` must travel as ``0.0000001``)."""
    return format(value, "f")


@dataclass(frozen=True)
class CoinProfile:
    """Price scale of a coin: about five significant figures, like Hyperliquid's tick rules."""

    name: str
    mantissa: int
    exponent: int
    sz_decimals: int
    px_decimals: int
    max_leverage: int

    @property
    def base_ticks(self) -> int:
        return self.mantissa * 10 ** (self.exponent - 3 + self.px_decimals)

    @property
    def max_size_units(self) -> int:
        return max(1, 20_000 * 10 ** (3 + self.sz_decimals - self.exponent) // self.mantissa)

    def price(self, ticks: int) -> Decimal:
        return scaled(ticks, self.px_decimals)

    def size(self, units: int) -> Decimal:
        return scaled(units, self.sz_decimals)


@lru_cache(maxsize=4096)
def profile(coin: str) -> CoinProfile:
    """Deterministic per coin name (not per seed), so ``meta`` stays stable across runs."""
    h = number("profile", coin)
    mantissa, exponent, leverage = KNOWN_COINS.get(coin, (1000 + h % 9000, -3 + h // 9000 % 7, (3, 5, 10, 20)[h % 4]))
    sz_decimals = min(5, max(0, exponent + 1))
    px_decimals = max(0, min(6 - sz_decimals, 4 - exponent))
    return CoinProfile(coin, mantissa, exponent, sz_decimals, px_decimals, leverage)


@lru_cache(maxsize=65_536)
def _anchor(seed: int, coin: str, span: int, k: int, amplitude: int) -> int:
    return number(seed, coin, "anchor", span, k) % (2 * amplitude + 1) - amplitude


def level_ppm(seed: int, coin: str, minute: int) -> int:
    """Smooth price offset from the coin's base, in parts per million: integer value noise in octaves."""
    total = 0
    for span, amplitude in OCTAVES:
        k, r = divmod(minute, span)
        a, b = _anchor(seed, coin, span, k, amplitude), _anchor(seed, coin, span, k + 1, amplitude)
        total += a + (b - a) * r // span
    return total


def price_ticks(seed: int, coin: str, minute: int, jitter_ppm: int = 0) -> int:
    return max(1, profile(coin).base_ticks * (PPM + level_ppm(seed, coin, minute) + jitter_ppm) // PPM)


def _generate_ticks(seed: int, coin: str, minute: int) -> tuple:
    """The minute's trades as ``(time_ms, price_ticks, size_units)``, at distinct whole seconds."""
    d = digest(seed, coin, "ticks", minute)
    if d[0] < EMPTY_MINUTE_BELOW:
        return ()
    coin_profile = profile(coin)
    base, max_size = coin_profile.base_ticks, coin_profile.max_size_units
    centre, start = PPM + level_ppm(seed, coin, minute), minute * MINUTE
    used, ticks = set(), []
    for i in range(2, 2 + 7 * (1 + d[1] % 6), 7):
        second = d[i] % 60
        while second in used:
            second = (second + 1) % 60
        used.add(second)
        jitter = (d[i + 1] << 8 | d[i + 2]) % (2 * TICK_JITTER_PPM + 1) - TICK_JITTER_PPM
        size = 1 + int.from_bytes(d[i + 3 : i + 7], "big") % max_size
        ticks.append((start + second * 1000, max(1, base * (centre + jitter) // PPM), size))
    ticks.sort()
    return tuple(ticks)


_raw_ticks = lru_cache(maxsize=16_384)(_generate_ticks)


def _merge(aggregates):
    """Aggregates are ``(o, h, l, c, v, n)`` integer tuples in time order; ``None`` means no trades."""
    result = None
    for agg in aggregates:
        if agg is None:
            continue
        if result is None:
            result = agg
        else:
            result = (
                result[0],
                max(result[1], agg[1]),
                min(result[2], agg[2]),
                agg[3],
                result[4] + agg[4],
                result[5] + agg[5],
            )
    return result


def _of_ticks(ticks):
    ticks = list(ticks)
    if not ticks:
        return None
    prices = [price for _, price, _ in ticks]
    return prices[0], max(prices), min(prices), prices[-1], sum(size for _, _, size in ticks), len(ticks)


@lru_cache(maxsize=131_072)
def _minute(seed: int, coin: str, minute: int):
    return _of_ticks(_raw_ticks(seed, coin, minute))


@lru_cache(maxsize=65_536)
def _hour(seed: int, coin: str, hour: int):
    return _merge(_of_ticks(_generate_ticks(seed, coin, hour * 60 + i)) for i in range(60))


@lru_cache(maxsize=16_384)
def _day(seed: int, coin: str, day: int):
    return _merge(_hour(seed, coin, day * 24 + i) for i in range(24))


def _range(seed: int, coin: str, start: int, end: int):
    """Aggregate of the trades in ``[start, end)``, using the largest cached blocks that fit."""
    parts, t = [], start
    while t < end:
        for size, block in ((DAY, _day), (HOUR, _hour), (MINUTE, _minute)):
            if t % size == 0 and t + size <= end:
                parts.append(block(seed, coin, t // size))
                t += size
                break
        else:
            minute_end = min(end, t - t % MINUTE + MINUTE)
            parts.append(_of_ticks(x for x in _raw_ticks(seed, coin, t // MINUTE) if t <= x[0] < minute_end))
            t = minute_end
    return _merge(parts)


@dataclass(frozen=True)
class Tick:
    time: int
    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class Candle:
    coin: str
    interval: str
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int

    def to_wire(self, alphabetical: bool = False) -> dict:
        """Hyperliquid's candle object; the real feed sends either key order, so both exist."""
        wire = {
            "t": self.open_time,
            "T": self.close_time,
            "s": self.coin,
            "i": self.interval,
            "o": decimal_text(self.open),
            "c": decimal_text(self.close),
            "h": decimal_text(self.high),
            "l": decimal_text(self.low),
            "v": decimal_text(self.volume),
            "n": self.trades,
        }
        return dict(sorted(wire.items())) if alphabetical else wire


class Market:
    """Ground truth for one seed. Cheap to construct; all caches are shared per process."""

    def __init__(self, seed: int):
        self.seed = seed

    def profile(self, coin: str) -> CoinProfile:
        return profile(coin)

    def ticks(self, coin: str, minute_ms: int) -> list[Tick]:
        """The trades of the minute starting at ``minute_ms``, in time order."""
        if minute_ms % MINUTE:
            raise ValueError(f"{minute_ms} is not the start of a minute")
        p = profile(coin)
        return [Tick(t, p.price(px), p.size(sz)) for t, px, sz in _raw_ticks(self.seed, coin, minute_ms // MINUTE)]

    def candle(self, coin: str, interval: str, open_time_ms: int, until_ms: int | None = None) -> Candle | None:
        """The candle opening at ``open_time_ms`` counting only trades before ``until_ms`` (default: all).

        ``None`` when it has no trades (yet).
        """
        if not intervals.is_aligned(interval, open_time_ms):
            raise ValueError(f"{open_time_ms} is not the open time of a {interval} candle")
        end = intervals.next_start(interval, open_time_ms)
        if until_ms is not None:
            end = min(end, until_ms)
        return self._candle(coin, interval, open_time_ms, _range(self.seed, coin, open_time_ms, end))

    def candles(self, coin: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        """Complete candles whose open time is in ``[start_ms, end_ms)``, skipping those without trades."""
        t = intervals.floor(interval, start_ms)
        if t < start_ms:
            t = intervals.next_start(interval, t)
        found = []
        while t < end_ms:
            candle = self.candle(coin, interval, t)
            if candle is not None:
                found.append(candle)
            t = intervals.next_start(interval, t)
        return found

    def tick_states(self, coin: str, interval: str, open_time_ms: int, until_ms: int, count: int) -> list[Candle]:
        """The candle as it stood after each of its last ``count`` trades before ``until_ms``.

        These are exactly the states ``candle(..., until_ms=trade time + 1)`` reports, oldest first.
        """
        end = min(intervals.next_start(interval, open_time_ms), until_ms)
        kept, minute = [], (end - 1) // MINUTE
        while len(kept) < count and minute * MINUTE >= open_time_ms:
            kept = [x for x in _raw_ticks(self.seed, coin, minute) if x[0] < end] + kept
            minute -= 1
        kept = kept[-count:] if count > 0 else []
        agg = _range(self.seed, coin, open_time_ms, kept[0][0]) if kept else None
        states = []
        for tick in kept:
            agg = _merge((agg, _of_ticks([tick])))
            states.append(self._candle(coin, interval, open_time_ms, agg))
        return states

    def _candle(self, coin: str, interval: str, open_time_ms: int, agg) -> Candle | None:
        if agg is None:
            return None
        p = profile(coin)
        o, h, low, c, v, n = agg
        close_time = intervals.close_time(interval, open_time_ms)
        return Candle(
            coin, interval, open_time_ms, close_time, p.price(o), p.price(h), p.price(low), p.price(c), p.size(v), n
        )
