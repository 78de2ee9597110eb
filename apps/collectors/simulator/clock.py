"""Virtual time, so a test can live through an hour of candles in a minute of real time."""

import time

from .intervals import MINUTE


class VirtualClock:
    """Starts at ``start_ms`` (default: real now floored to the minute) and runs ``speed`` times real time."""

    def __init__(self, speed: float = 60.0, start_ms: int | None = None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.start_ms = start_ms if start_ms is not None else int(time.time() * 1000) // MINUTE * MINUTE
        self._started = time.monotonic()

    def now_ms(self) -> int:
        return self.start_ms + int((time.monotonic() - self._started) * self.speed * 1000)
