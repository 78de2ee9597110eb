"""The aiohttp application, and the two ways to run it: in the foreground, or in a test's thread.

Routes: ``GET /ws`` (Hyperliquid WebSocket), ``POST /info`` (Hyperliquid REST), Binance's WebSockets
(``/market/stream`` and ``/public/stream`` USD-M, ``/stream`` spot, see ``binance_ws``) and REST (``/api/v3/klines``,
``/fapi/v1/...``, see ``binance``), Bybit's REST history and public WebSocket (``/v5/...``, see
``bybit`` and ``bybit_ws``), OKX's REST history and WebSockets (``/api/v5/...``,
``/ws/v5/...``, see ``okx`` and ``okx_ws``), Coinbase's REST candles and WebSocket (``coinbase``,
``coinbase_ws``), ``/control/*`` and ``/truth/*`` (see ``control``).
Another exchange adds its protocol object and routes here.
"""

import asyncio
import signal
import threading
from dataclasses import dataclass

from aiohttp import WSCloseCode, WSMsgType, web

from . import binance, binance_ws, bybit, bybit_ticks, bybit_ws, coinbase, coinbase_ws, control, okx, okx_ws
from .config import SimulatorConfig
from .connection import Connection
from .hyperliquid import HyperliquidProtocol
from .hyperliquid_info import info
from .state import STATE, SimulatorState

CLOSE_TIMEOUT = 1.0


def websocket_route(protocol_name: str, heartbeat=None):
    """A WebSocket handler speaking the protocol ``state.protocols[protocol_name]``."""

    async def handle(request: web.Request) -> web.WebSocketResponse:
        state = request.app[STATE]
        return await _serve_socket(
            request, state, state.protocols[protocol_name], heartbeat(state) if heartbeat else None
        )

    return handle


async def _serve_socket(request, state, protocol, heartbeat) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT, compress=False, heartbeat=heartbeat)
    await ws.prepare(request)
    connection = Connection(state, ws, request.transport)
    state.connections[connection.id] = connection
    try:
        await protocol.on_open(connection)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await protocol.on_text(connection, message.data)
            elif message.type == WSMsgType.BINARY:
                await protocol.on_text(connection, message.data.decode("utf-8", "replace"))
    finally:
        connection.stop_all()
        state.connections.pop(connection.id, None)
    return ws


async def _close_sockets(app: web.Application) -> None:
    connections = list(app[STATE].connections.values())
    for connection in connections:
        connection.stop_all()
    await asyncio.gather(
        *(connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"shutdown") for connection in connections),
        return_exceptions=True,
    )


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def create_app(config: SimulatorConfig) -> web.Application:
    state = SimulatorState(config)
    state.protocol = HyperliquidProtocol(state)
    state.protocols = {"hyperliquid": state.protocol}
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/", health)
    app.router.add_get("/ws", websocket_route("hyperliquid"))
    for market, route in ((binance.USDM, None), (binance.SPOT, None), (binance.USDM, binance_ws.PUBLIC)):
        protocol = binance_ws.BinanceStreams(state, market, route)
        state.protocols[protocol.name] = protocol
        app.router.add_get(protocol.path, websocket_route(protocol.name, lambda s: s.config.binance_ping_seconds))
    app.router.add_post("/info", info)
    binance.add_routes(app)
    bybit.add_routes(app)
    bybit_ticks.add_routes(app)
    bybit_ws.add_routes(app)
    okx.add_routes(app)
    okx_ws.add_routes(app)
    coinbase.add_routes(app)
    state.protocols["coinbase"] = coinbase_ws.add_routes(app, state)
    app.router.add_get(coinbase_ws.PATH, websocket_route("coinbase"))
    control.add_routes(app)
    app.on_shutdown.append(_close_sockets)
    return app


async def start(config: SimulatorConfig) -> tuple[web.AppRunner, str, int]:
    """Bind and start serving; returns the runner and the bound host and port (``port=0`` picks one)."""
    runner = web.AppRunner(create_app(config), access_log=None, shutdown_timeout=CLOSE_TIMEOUT * 2)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    port = runner.addresses[0][1]
    return runner, config.host, port


def banner(host: str, port: int) -> str:
    return f"Exchange simulator listening on http://{host}:{port} (ws: ws://{host}:{port}/ws)"


async def serve_until_signalled(config: SimulatorConfig, announce) -> None:
    """Serve until SIGTERM or SIGINT, announcing the address once it is accepting connections."""
    runner, host, port = await start(config)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    announce(banner(host, port))
    try:
        await stopped.wait()
    finally:
        await _shutdown(runner)


def serve(config: SimulatorConfig, announce=print) -> None:
    asyncio.run(serve_until_signalled(config, announce))


@dataclass
class SimulatorHandle:
    """A simulator running on its own event loop in a daemon thread (see ``run_in_thread``)."""

    host: str
    port: int
    app: web.Application
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def binance_usdm_ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{binance_ws.PATHS[binance.USDM]}"

    @property
    def binance_usdm_public_ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{binance_ws.PUBLIC_PATH}"

    @property
    def binance_spot_ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{binance_ws.PATHS[binance.SPOT]}"

    @property
    def coinbase_ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{coinbase_ws.PATH}"

    @property
    def state(self) -> SimulatorState:
        return self.app[STATE]

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


async def _shutdown(runner: web.AppRunner) -> None:
    await runner.cleanup()
    leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


def run_in_thread(config: SimulatorConfig | None = None, timeout: float = 10.0) -> SimulatorHandle:
    """Start a simulator for a test (default: a free port) and return once it accepts connections."""
    config = config or SimulatorConfig(port=0)
    loop = asyncio.new_event_loop()
    ready, outcome = threading.Event(), {}

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            outcome["started"] = loop.run_until_complete(start(config))
        except BaseException as error:
            outcome["error"] = error
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(_shutdown(outcome["started"][0]))
        loop.close()

    thread = threading.Thread(target=main, name="exchange-simulator", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise TimeoutError("exchange simulator did not start")
    if "error" in outcome:
        raise outcome["error"]
    runner, host, port = outcome["started"]
    return SimulatorHandle(host, port, runner.app, loop, thread)
