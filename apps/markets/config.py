"""Read and validate a starlistings file in the Kirby 1.x format.

Sections: ``exchanges``, ``coins``, ``quote_currencies``, ``market_types``,
optional ``intervals``, and ``starlistings`` (or ``training_stars``, as in
training_stars.yaml), each entry with a list of ``intervals`` and optional
per-pair switches for ticks: ``trades``, ``orderbook`` (both off unless
true), ``orderbook_depth`` (levels stored per side, 1..1000, default 20) and
``orderbook_every_seconds`` (snapshot cadence, 0.1..3600, default 1). Validation
reads the whole file before anything is written and names the entry and
field of every problem.
"""

from dataclasses import dataclass, field

import yaml


class ConfigFileError(Exception):
    def __init__(self, problems):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Named:
    key: str  # name or symbol
    label: str  # display name
    active: bool


@dataclass(frozen=True)
class IntervalEntry:
    name: str
    seconds: int
    active: bool


@dataclass(frozen=True)
class StarlistingEntry:
    exchange: str
    coin: str
    quote: str
    market_type: str
    intervals: tuple
    active: bool
    trades: bool = False
    orderbook: bool = False
    orderbook_depth: int = 20
    orderbook_every_seconds: float = 1.0

    @property
    def pair_path(self):
        return f"{self.exchange}/{self.coin}/{self.quote}/{self.market_type}"


@dataclass
class StarlistingConfig:
    exchanges: list = field(default_factory=list)
    coins: list = field(default_factory=list)
    quote_currencies: list = field(default_factory=list)
    market_types: list = field(default_factory=list)
    intervals: list = field(default_factory=list)
    starlistings: list = field(default_factory=list)


# section -> (identifying field, display field)
_NAMED_SECTIONS = {
    "exchanges": ("name", "display_name"),
    "coins": ("symbol", "name"),
    "quote_currencies": ("symbol", "name"),
    "market_types": ("name", "display_name"),
}


class _Reader:
    def __init__(self):
        self.problems = []

    def problem(self, where, message):
        self.problems.append(f"{where}: {message}")

    def text(self, entry, name, where, required=True):
        value = entry.get(name)
        if value is None:
            if required:
                self.problem(where, f"missing field '{name}'")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(where, f"field '{name}' must be text, got {type(value).__name__}")
            return None
        value = str(value).strip()
        if required and not value:
            self.problem(where, f"field '{name}' must not be empty")
            return None
        if "/" in value:
            self.problem(where, f"field '{name}' must not contain '/' (it is part of URLs), got {value!r}")
            return None
        return value

    def flag(self, entry, where, name="active", default=True):
        value = entry.get(name, default)
        if not isinstance(value, bool):
            self.problem(where, f"field '{name}' must be true or false, got {value!r}")
            return default
        return value

    def number(self, entry, where, name, default, low, high, kind):
        value = entry.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
            self.problem(where, f"field '{name}' must be a {kind.__name__} from {low} to {high}, got {value!r}")
            return default
        if not low <= value <= high:
            self.problem(where, f"field '{name}' must be from {low} to {high}, got {value!r}")
            return default
        return kind(value)

    def entries(self, document, section, required):
        value = document.get(section)
        if value is None:
            if required:
                self.problem(section, "missing section")
            return []
        if not isinstance(value, list):
            self.problem(section, "must be a list of entries")
            return []
        good = []
        for index, entry in enumerate(value):
            if isinstance(entry, dict):
                good.append((f"{section}[{index}]", entry))
            else:
                self.problem(f"{section}[{index}]", "must be a mapping of fields")
        return good


def load_config(path, known_intervals):
    """Parse ``path``; ``known_intervals`` are interval names already in the database."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigFileError([f"{path}: file not found"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1} column {mark.column + 1}" if mark else str(path)
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigFileError([f"{where}: YAML syntax error: {reason}"]) from None
    if not isinstance(document, dict):
        raise ConfigFileError([f"{path}: must be a YAML mapping with sections exchanges, coins, ... starlistings"])
    return parse_document(document, known_intervals)


def parse_document(document, known_intervals):
    reader = _Reader()
    config = StarlistingConfig()
    for section, (key_field, label_field) in _NAMED_SECTIONS.items():
        seen = {}
        for where, entry in reader.entries(document, section, required=False):
            key = reader.text(entry, key_field, where)
            label = reader.text(entry, label_field, where, required=False)
            active = reader.flag(entry, where)
            if key is None:
                continue
            folded = key.lower() if section in ("coins", "quote_currencies") else key
            if folded in seen:
                reader.problem(where, f"duplicate {key_field} {key!r} (also {seen[folded]})")
                continue
            seen[folded] = where
            getattr(config, section).append(Named(key, label if label is not None else key, active))

    for where, entry in reader.entries(document, "intervals", required=False):
        name = reader.text(entry, "name", where)
        seconds = entry.get("seconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
            reader.problem(where, f"field 'seconds' must be a positive integer, got {seconds!r}")
            continue
        if name is not None:
            config.intervals.append(IntervalEntry(name, seconds, reader.flag(entry, where)))

    section = "training_stars" if "training_stars" in document and "starlistings" not in document else "starlistings"
    interval_names = set(known_intervals) | {i.name for i in config.intervals}
    defined = {
        "exchange": {n.key for n in config.exchanges},
        "coin": {n.key.lower() for n in config.coins},
        "quote": {n.key.lower() for n in config.quote_currencies},
        "market_type": {n.key for n in config.market_types},
    }
    section_of = {"exchange": "exchanges", "coin": "coins", "quote": "quote_currencies", "market_type": "market_types"}
    seen = {}
    for where, entry in reader.entries(document, section, required=True):
        values = {name: reader.text(entry, name, where) for name in ("exchange", "coin", "quote", "market_type")}
        for name, value in values.items():
            if value is None:
                continue
            folded = value.lower() if name in ("coin", "quote") else value
            if folded not in defined[name]:
                reader.problem(where, f"field '{name}': {value!r} is not defined in {section_of[name]}")
        intervals = entry.get("intervals")
        if not isinstance(intervals, list) or not intervals:
            reader.problem(where, "field 'intervals' must be a non-empty list, e.g. [1m, 15m]")
            intervals = []
        names = []
        for interval in intervals:
            name = str(interval).strip() if isinstance(interval, str | int) else None
            if name not in interval_names:
                reader.problem(where, f"field 'intervals': unknown interval {interval!r}")
            elif name in names:
                reader.problem(where, f"field 'intervals': {name!r} listed twice")
            else:
                names.append(name)
        active = reader.flag(entry, where)
        ticks = {
            "trades": reader.flag(entry, where, "trades", False),
            "orderbook": reader.flag(entry, where, "orderbook", False),
            "orderbook_depth": reader.number(entry, where, "orderbook_depth", 20, 1, 1000, int),
            "orderbook_every_seconds": reader.number(entry, where, "orderbook_every_seconds", 1.0, 0.1, 3600, float),
        }
        if None in values.values():
            continue
        star = StarlistingEntry(intervals=tuple(names), active=active, **values, **ticks)
        pair = (star.exchange, star.coin.lower(), star.quote.lower(), star.market_type)
        if pair in seen:
            reader.problem(where, f"trading pair {star.pair_path} is already listed at {seen[pair]}")
            continue
        seen[pair] = where
        config.starlistings.append(star)

    if reader.problems:
        raise ConfigFileError(reader.problems)
    return config
