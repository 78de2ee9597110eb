"""Everything one running simulator knows: config, clock, market, faults, sockets and logs."""

import time
from collections import deque

from aiohttp import web

from .clock import VirtualClock
from .faults import Faults
from .market import Market
from .replay import load_lines

FRAME_LOG_SIZE = 10_000
CTX_LOG_SIZE = 100_000
REST_LOG_SIZE = 100_000


class SimulatorState:
    def __init__(self, config):
        self.config = config
        self.clock = VirtualClock(config.speed, config.start_ms)
        self.market = Market(config.seed)
        self.faults = Faults()
        self.connections = {}
        self.protocol = None
        self.replay_lines = load_lines(config.replay)
        self.seen_coins = dict.fromkeys(config.coins)
        self.frames_sent = 0
        self.frames = deque(maxlen=FRAME_LOG_SIZE)
        self.ctx_log = deque(maxlen=CTX_LOG_SIZE)
        self.rest_log = deque(maxlen=REST_LOG_SIZE)
        self.protocols = {}  # WebSocket protocols by name (the server's routes)
        self.binance_forced_closes = 0  # connections closed at their maximum age
        self.binance_rate_closes = 0  # connections closed for sending too many messages

    def record_frame(self, connection_id: int, text: str) -> None:
        self.frames_sent += 1
        self.frames.append({"sent_at": time.time(), "connection": connection_id, "text": text})

    def log_ctx(self, coin: str, ctx: dict) -> None:
        self.ctx_log.append({"sent_at": time.time(), "coin": coin, "ctx": ctx})

    def log_rest(self, path: str, query: dict, status: int, weight: int) -> None:
        self.rest_log.append({"at": time.time(), "path": path, "query": query, "status": status, "weight": weight})

    def saw_coin(self, coin: str) -> None:
        self.seen_coins.setdefault(coin)

    def universe(self) -> list[str]:
        return list(self.seen_coins)

    def reset(self) -> None:
        """Clear faults and logs; connections and subscriptions stay as they are."""
        self.faults.reset()
        for connection in self.connections.values():
            connection.malformed_remaining = 0
        self.frames_sent = 0
        self.frames.clear()
        self.ctx_log.clear()
        self.rest_log.clear()


STATE = web.AppKey("simulator_state", SimulatorState)
