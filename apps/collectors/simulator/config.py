"""Settings of one simulator run, shared by the command line, the management command and tests."""

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_COINS = ("BTC", "ETH", "SOL")


@dataclass(frozen=True)
class SimulatorConfig:
    """``port=0`` binds a free port (what tests want); ``replay`` files replace generated pushes."""

    host: str = "127.0.0.1"
    port: int = 8765
    seed: int = 42
    speed: float = 60.0
    start_ms: int | None = None
    ctx_interval: float = 0.5
    update_interval: float = 0.1
    replay: tuple[Path, ...] = ()
    history_limit: int = 5000
    page_limit: int = 500
    coins: tuple[str, ...] = field(default=DEFAULT_COINS)
    # Binance closes every connection at 24 hours; here after this many real seconds (default: 24 virtual hours).
    binance_connection_seconds: float | None = None
    # Binance's server pings; a client that does not pong within half of this is dropped.
    binance_ping_seconds: float = 10.0
    # Binance lists the simulated symbols at this time (epoch ms): no klines or funding before it. None: always.
    binance_listing_ms: int | None = None

    def __post_init__(self):
        for name in ("speed", "ctx_interval", "update_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.history_limit < 1 or self.page_limit < 1:
            raise ValueError("history_limit and page_limit must be at least 1")
        object.__setattr__(self, "replay", tuple(Path(p) for p in self.replay))
        object.__setattr__(self, "coins", tuple(self.coins))
        if self.binance_connection_seconds is None:
            object.__setattr__(self, "binance_connection_seconds", 86_400 / self.speed)
        if self.binance_connection_seconds <= 0 or self.binance_ping_seconds <= 0:
            raise ValueError("binance_connection_seconds and binance_ping_seconds must be positive")
