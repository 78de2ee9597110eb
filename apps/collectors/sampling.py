"""One funding / open-interest row per trading pair per period (Kirby 1.x's meaning).

Exchanges push the asset context many times a minute. The row at time T
holds the last update received in ``[T - period, T)``; a period with no
update has no row. Rows are emitted once their period has ended.
"""


class ContextSampler:
    def __init__(self, period_seconds=60):
        self.period_ms = int(period_seconds * 1000)
        self._pending = {}  # key -> (period_end_ms, context, received_ms)

    def feed(self, key, context, received_ms):
        """Keep ``context``; return [(period_end_ms, context, received_ms)] of a period it closes."""
        end = (received_ms // self.period_ms + 1) * self.period_ms
        previous = self._pending.get(key)
        self._pending[key] = (end, context, received_ms)
        if previous is not None and previous[0] != end:
            return [(key, *previous)]
        return []

    def expire(self, now_ms):
        """Rows of every period that has ended by ``now_ms``."""
        done = [(key, *value) for key, value in self._pending.items() if value[0] <= now_ms]
        for key, *_ in done:
            del self._pending[key]
        return done

    def drain(self):
        """Everything pending, e.g. at shutdown (a period cut short still holds its last update)."""
        done = [(key, *value) for key, value in self._pending.items()]
        self._pending.clear()
        return done
