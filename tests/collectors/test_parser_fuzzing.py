"""Every venue's parser, fed its recorded frames with one field at a time made wrong: it parses the frame or
refuses it as MalformedFrame (counted, sampled, skipped by the stream), never raises anything else (which
would end the connection and start a reconnect)."""

import copy
import inspect
import json
import types
from functools import partial
from pathlib import Path

import pytest

from apps.collectors.exchanges import get_adapter
from apps.collectors.exchanges.events import MalformedFrame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"
# folder -> (adapter, the endpoints its frames may come from)
VENUES = {
    "hyperliquid": ("hyperliquid", [""]),
    "binance_spot": ("binance", ["spot"]),
    "binance_usdm": ("binance", ["usdm", "usdm-public"]),
    "bybit": ("bybit", ["spot", "linear"]),
    "okx": ("okx", ["public", "business"]),
    "coinbase": ("coinbase", [""]),
}
# What a field may wrongly hold: other JSON types, a number where text belongs, text where a number does.
WRONG = [[], {}, None, 1.5, -1, True, "x", "NaN", "-0", [[]]]
FRAMES_PER_FILE = 4


class _Everything(dict):
    """A plan's mapping that subscribes every series: each frame is parsed as far as it goes."""

    def __contains__(self, key):
        return True

    def get(self, key, default=None):
        return (1,)

    def __getitem__(self, key):
        return (1,)


_ALL = _Everything()
_PLAN = types.SimpleNamespace(trades=_ALL, books=_ALL, candles=_ALL, contexts=_ALL)


def _parser(adapter, endpoint):
    make = getattr(adapter.parser, "connection_parser", None)
    if make is None:
        return partial(adapter.parser.parse_frame, endpoint=endpoint)
    extra = {"plan": lambda: _PLAN} if "plan" in inspect.signature(make).parameters else {}
    return make(endpoint, lambda: _ALL, **extra)


def _broken(message, path=()):
    """(path, wrong value) for every field of ``message``, nested ones too (the first few items of a list)."""
    items = (
        message.items() if isinstance(message, dict) else enumerate(message[:3]) if isinstance(message, list) else ()
    )
    for key, value in items:
        for wrong in WRONG:
            yield (*path, key), wrong
        yield from _broken(value, (*path, key))


def _with(message, path, value):
    changed = copy.deepcopy(message)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def _recorded(folder):
    for path in sorted((FIXTURES / folder).glob("*.ndjson")):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        for line in lines[:FRAMES_PER_FILE]:
            yield path.name, json.loads(line)


@pytest.mark.parametrize("folder", sorted(VENUES))
def test_a_frame_with_any_field_wrong_is_parsed_or_refused_as_malformed_never_an_error(folder):
    name, endpoints = VENUES[folder]
    adapter = get_adapter(name)
    tried = refused = 0
    unexpected = []
    for file_name, message in _recorded(folder):
        for path, wrong in _broken(message):
            raw = json.dumps(_with(message, path, wrong))
            for endpoint in endpoints:
                tried += 1
                try:
                    _parser(adapter, endpoint)(raw)
                except MalformedFrame:
                    refused += 1
                except Exception as error:  # noqa: BLE001 - what the test is looking for
                    unexpected.append(f"{file_name} {list(path)} = {wrong!r} ({endpoint}): {error!r}")
    assert not unexpected, "\n".join(unexpected[:20])
    assert tried > 200 and refused > 0  # the frames were really taken apart, and the parser does refuse
