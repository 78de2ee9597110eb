"""A WebSocket server that replays pre-rendered candle frames of one venue as fast as the socket takes them.

collector_throughput's sender: the exchange simulator renders and sends
every frame through Python's WebSocket layer (about 8,000 frames/s on this
machine), so it, not the collector, would set the pace. Here each frame is
rendered to its WebSocket bytes (a server's text frame: FIN, opcode 1,
unmasked) before the clock starts, and a flood writes them onto the
connection's transport in large chunks. Clients are ordinary WebSocket
clients (the Kirby stream, a bare aiohttp reader); what they send
(subscribes, pings) is read and ignored, since the frames to send are named
by ``/prepare``, not by subscriptions.

    .venv/bin/python bench/frame_sender.py --port 0     # prints "frame sender listening on PORT"

``POST /prepare {"venue", "coins", "messages", "open_ms"}`` renders
``messages`` updates of the open day candle of every coin, interleaved
coin by coin; ``POST /flood`` writes them to every open connection and
answers once the transports have taken them. WebSocket paths: ``/ws``
(Hyperliquid), ``/stream`` (Binance spot), ``/v5/public/spot`` (Bybit spot),
``/ws/v5/business`` (OKX spot candles), ``/coinbase/ws`` (Coinbase trades, with
``sequence_num`` running on from one flood to the next). With ``"kind": "trades"``
(trades_throughput) it renders trades instead: Hyperliquid ``trades`` or Binance
spot ``aggTrade``, ``open_ms`` the first trade's time, ten trades to a millisecond.
"""

import argparse
import asyncio
import itertools
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from aiohttp import WSMsgType, web

DAY_MS = 86_400_000
CHUNK_BYTES = 1 << 20
HIGH_WATER_BYTES = 4 << 20
CENT = Decimal("0.01")


def websocket_frame(text):
    """The bytes of one unmasked text frame from a server (RFC 6455 section 5.2)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


def candle_states(messages):
    """``messages`` successive states of one open candle: (open, high, low, close, volume, trades) as text."""
    opening = Decimal(100)
    high = low = opening
    for i in range(messages):
        close = opening + ((i * 37) % 201 - 100) * CENT
        high, low = max(high, close), min(low, close)
        yield str(opening), str(high), str(low), str(close), f"{(i + 1) / 1000:.3f}", i + 1


def hyperliquid(coin, open_ms, state):
    o, h, low, c, v, n = state
    data = {"t": open_ms, "T": open_ms + DAY_MS - 1, "s": coin, "i": "1d", "o": o, "c": c, "h": h, "l": low,
            "v": v, "n": n}  # fmt: skip
    return {"channel": "candle", "data": data}


def binance(coin, open_ms, state):
    o, h, low, c, v, n = state
    symbol = f"{coin}USDT"
    k = {"t": open_ms, "T": open_ms + DAY_MS - 1, "s": symbol, "i": "1d", "f": 0, "L": 0, "o": o, "c": c, "h": h,
         "l": low, "v": v, "n": n, "x": False, "q": "0", "V": "0", "Q": "0", "B": "0"}  # fmt: skip
    return {"stream": f"{symbol.lower()}@kline_1d", "data": {"e": "kline", "E": open_ms, "s": symbol, "k": k}}


def bybit(coin, open_ms, state):
    o, h, low, c, v, _ = state
    item = {"start": open_ms, "end": open_ms + DAY_MS - 1, "interval": "D", "open": o, "close": c, "high": h,
            "low": low, "volume": v, "turnover": "0", "confirm": False, "timestamp": open_ms}  # fmt: skip
    return {"topic": f"kline.D.{coin}USDT", "data": [item], "ts": open_ms, "type": "snapshot"}


def okx(coin, open_ms, state):
    o, h, low, c, v, _ = state
    row = [str(open_ms), o, h, low, c, v, "0", "0", "0"]  # the ninth field: "0" while the candle is open
    return {"arg": {"channel": "candle1Dutc", "instId": f"{coin}-USDT"}, "data": [row]}


def coinbase(coin, open_ms, state, sequence):
    """One market_trades message of one trade (Coinbase sends trades, not candles: Kirby builds the candle)."""
    _, _, _, c, _, n = state
    moment = datetime.fromtimestamp((open_ms + n) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    trade = {"trade_id": str(sequence), "product_id": f"{coin}-USD", "price": c, "size": "0.001", "side": "BUY",
             "time": moment}  # fmt: skip
    return {"channel": "market_trades", "client_id": "", "timestamp": moment, "sequence_num": sequence,
            "events": [{"type": "update", "trades": [trade]}]}  # fmt: skip


def hyperliquid_trade(coin, moment_ms, number):
    """One ``trades`` frame of one fill (the venue batches a taker order's fills; one each is the dearer case)."""
    trade = {
        "coin": coin,
        "side": "B" if number % 2 else "A",
        "px": f"{100 + number % 997 / 100:.2f}",
        "sz": f"{1 + number % 89 / 1000:.3f}",
        "time": moment_ms,
        "hash": f"0x{number:064x}",
        "tid": number,
        "users": ["0x14a855bdcffa67fdf47a112f5180c26d7088c85f", "0xc897e2a9cf140a9035e2aebaa834ae98196c152a"],
    }
    return {"channel": "trades", "data": [trade]}


def binance_trade(coin, moment_ms, number):
    """One spot ``aggTrade`` event, ``a`` its id."""
    symbol = f"{coin}USDT"
    data = {
        "e": "aggTrade",
        "E": moment_ms,
        "a": number,
        "s": symbol,
        "p": f"{100 + number % 997 / 100:.2f}",
        "q": f"{1 + number % 89 / 1000:.3f}",
        "f": number,
        "l": number,
        "T": moment_ms,
        "m": number % 2 == 0,
    }
    return {"stream": f"{symbol.lower()}@aggTrade", "data": data}


RENDER = {"hyperliquid": hyperliquid, "binance": binance, "bybit": bybit, "okx": okx}
# Trades: ``messages`` trades of every coin, ids running on from one flood to the next (a replay would store none).
TRADES = {"hyperliquid": hyperliquid_trade, "binance": binance_trade}
# Venues whose messages carry a sequence number per connection: it runs on from one flood to the next.
SEQUENCED = {"coinbase": coinbase}
CONNECTIONS = web.AppKey("connections", set)
PREPARED = web.AppKey("prepared", dict)
SEQUENCE = web.AppKey("sequence", int)


def render(venue, coins, messages, open_ms, sequence=0, kind="candles"):
    """The flood's bytes in chunks of about CHUNK_BYTES, and how many frames they hold."""
    if kind == "trades":
        return _chunks(
            websocket_frame(json.dumps(TRADES[venue](coin, open_ms + n // 10, sequence + n * len(coins) + i),
                                       separators=(",", ":")))
            for n in range(messages) for i, coin in enumerate(coins)
        ), messages * len(coins)  # fmt: skip
    if venue in SEQUENCED:
        numbers = itertools.count(sequence)
        make = partial(lambda coin, open_ms, state: SEQUENCED[venue](coin, open_ms, state, next(numbers)))
    else:
        make = RENDER[venue]
    states = list(candle_states(messages))
    frames = (websocket_frame(json.dumps(make(coin, open_ms, state), separators=(",", ":")))
              for state in states for coin in coins)  # fmt: skip
    return _chunks(frames), len(states) * len(coins)


def _chunks(frames):
    chunks, chunk = [], bytearray()
    for frame in frames:
        chunk += frame
        if len(chunk) >= CHUNK_BYTES:
            chunks.append(bytes(chunk))
            chunk = bytearray()
    if chunk:
        chunks.append(bytes(chunk))
    return chunks


async def websocket(request):
    ws = web.WebSocketResponse(compress=False, autoping=True)
    await ws.prepare(request)
    request.app[CONNECTIONS].add((ws, request.transport))
    try:
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
            if message.type == WSMsgType.TEXT and message.data == "ping":
                await ws.send_str("pong")  # OKX's text keepalive: a stream without pongs reconnects
    finally:
        request.app[CONNECTIONS].discard((ws, request.transport))
    return ws


async def prepare(request):
    body = await request.json()
    sequence = request.app[SEQUENCE]
    chunks, frames = render(body["venue"], body["coins"], int(body["messages"]), int(body["open_ms"]), sequence,
                            body.get("kind", "candles"))  # fmt: skip
    request.app[PREPARED].update(chunks=chunks, frames=frames)
    request.app[SEQUENCE] = sequence + frames
    return web.json_response({"frames": frames, "bytes": sum(map(len, chunks))})


async def _write(transport, chunks):
    for chunk in chunks:
        if transport.is_closing():
            return
        transport.write(chunk)
        while transport.get_write_buffer_size() > HIGH_WATER_BYTES and not transport.is_closing():
            await asyncio.sleep(0.0005)  # the client reads: the buffer drains


async def flood(request):
    prepared, targets = request.app[PREPARED], list(request.app[CONNECTIONS])
    started = time.perf_counter()
    await asyncio.gather(*(_write(transport, prepared.get("chunks", ())) for _, transport in targets))
    seconds = time.perf_counter() - started
    return web.json_response({"frames": prepared.get("frames", 0), "connections": len(targets), "seconds": seconds})


def application():
    app = web.Application()
    app[CONNECTIONS], app[PREPARED], app[SEQUENCE] = set(), {}, 0
    for path in ("/ws", "/stream", "/v5/public/spot", "/ws/v5/business", "/coinbase/ws"):
        app.router.add_get(path, websocket)
    app.router.add_post("/prepare", prepare)
    app.router.add_post("/flood", flood)
    return app


async def serve(port):
    runner = web.AppRunner(application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"frame sender listening on {bound}", flush=True)
    await asyncio.Event().wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
