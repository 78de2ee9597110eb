"""Exchange adapters: one package per exchange with the same modules.

``protocol`` (endpoints and frames), ``parser`` (frames -> events),
``symbols`` (Kirby pairs -> exchange names), ``history`` (REST history).
An adapter whose ``protocol.LIVE`` is false serves history only: no stream
is ever started for it (``LIVE_EXCHANGES``).
"""

import importlib
from types import SimpleNamespace

EXCHANGES = ("hyperliquid", "binance", "bybit")


def get_adapter(name):
    """The adapter of exchange ``name`` as one object with its modules' functions."""
    if name not in EXCHANGES:
        raise LookupError(f"no adapter for exchange {name!r}; known: {', '.join(EXCHANGES)}")
    package = f"apps.collectors.exchanges.{name}"
    return SimpleNamespace(
        name=name,
        protocol=importlib.import_module(f"{package}.protocol"),
        parser=importlib.import_module(f"{package}.parser"),
        symbols=importlib.import_module(f"{package}.symbols"),
        history=importlib.import_module(f"{package}.history"),
    )


def is_live(name):
    return getattr(importlib.import_module(f"apps.collectors.exchanges.{name}.protocol"), "LIVE", True)


# Exchanges with a live stream (supervise_streams starts streams for these only).
LIVE_EXCHANGES = tuple(name for name in EXCHANGES if is_live(name))
