"""Hyperliquid's REST ``POST /info`` for backfill and universe discovery (EXCHANGES.md section 1.5).

The limits matter more than the payloads: only the most recent ``history_limit`` candles exist,
every time-range answer is cut at ``page_limit`` items, and nothing past virtual now is served,
so a collector's pagination is exercised exactly as against the real venue.
"""

import asyncio
import json

from aiohttp import web

from . import intervals
from .context import asset_ctx, funding_history
from .market import profile
from .state import STATE


class BadRequest(Exception):
    """The request cannot be deserialised; the venue answers such requests with a plain-text reason."""


def _field(body: dict, name: str, kind, required: bool = True):
    value = body.get(name)
    if value is None and not required:
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest(f"Failed to deserialize the JSON body into the target type: `{name}` must be an integer")
    if kind is str and (not isinstance(value, str) or not value):
        raise BadRequest(f"Failed to deserialize the JSON body into the target type: `{name}` must be a string")
    return value


def candle_snapshot(state, body: dict) -> list:
    req = body.get("req")
    if not isinstance(req, dict):
        raise BadRequest("Failed to deserialize the JSON body into the target type: missing field `req`")
    coin, interval = _field(req, "coin", str), _field(req, "interval", str)
    if not intervals.is_interval(interval):
        raise BadRequest(f"Failed to deserialize the JSON body into the target type: unknown interval `{interval}`")
    start, end = _field(req, "startTime", int), _field(req, "endTime", int, required=False)
    now = state.clock.now_ms()
    current = intervals.floor(interval, now)
    last = current if end is None else min(end, current)
    t = max(intervals.floor(interval, start), intervals.shift(interval, current, 1 - state.config.history_limit))
    found = []
    while t <= last and len(found) < state.config.page_limit:
        candle = state.market.candle(coin, interval, t, until_ms=now if t == current else None)
        if candle is not None:
            found.append(candle.to_wire(alphabetical=True))
        t = intervals.next_start(interval, t)
    return found


def funding(state, body: dict) -> list:
    coin, start = _field(body, "coin", str), _field(body, "startTime", int)
    end = _field(body, "endTime", int, required=False)
    now = state.clock.now_ms()
    end = now if end is None else min(end, now)
    return funding_history(state.config.seed, coin, start, end, state.config.page_limit)


def meta(state, body: dict) -> dict:
    universe = []
    for coin in state.universe():
        p = profile(coin)
        universe.append({"name": coin, "szDecimals": p.sz_decimals, "maxLeverage": p.max_leverage})
    return {"universe": universe}


def meta_and_asset_ctxs(state, body: dict) -> list:
    now = state.clock.now_ms()
    return [meta(state, body), [asset_ctx(state.config.seed, coin, now) for coin in state.universe()]]


HANDLERS = {
    "candleSnapshot": candle_snapshot,
    "fundingHistory": funding,
    "meta": meta,
    "metaAndAssetCtxs": meta_and_asset_ctxs,
}


def _reject(reason: str, status: int = 400) -> web.Response:
    return web.Response(status=status, text=reason, content_type="text/plain")


async def info(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.faults.take_rest_429():
        return _reject("Too many requests", status=429)
    if request.content_type != "application/json":
        return _reject("Expected request with `Content-Type: application/json`")
    try:
        body = json.loads(await request.text())
    except ValueError as error:
        return _reject(f"Failed to parse the request body as JSON: {error}")
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return _reject("Failed to deserialize the JSON body into the target type: missing field `type`")
    handler = HANDLERS.get(body["type"])
    if handler is None:
        return _reject(f"Failed to deserialize the JSON body into the target type: unknown variant `{body['type']}`")
    try:
        result = await asyncio.to_thread(handler, state, body)
    except BadRequest as error:
        return _reject(str(error))
    return web.Response(text=json.dumps(result, separators=(",", ":")), content_type="application/json")
