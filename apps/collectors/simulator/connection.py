"""One client WebSocket, and the single door every outgoing frame goes through.

Sending through ``Connection.send`` is what makes the faults, the frame counters and the sent-frame
log apply uniformly to greetings, acks, generated pushes, floods and replayed lines.
"""

import asyncio
import itertools
from enum import Enum

from .faults import malformed_frame

_ids = itertools.count(1)


class Sent(Enum):
    SENT = "sent"
    MALFORMED = "malformed"
    SILENCED = "silenced"
    CLOSED = "closed"


class Connection:
    def __init__(self, state, ws, transport):
        self.id = next(_ids)
        self.state = state
        self.ws = ws
        self.transport = transport
        self.subscriptions: dict[str, dict] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.send_lock = asyncio.Lock()
        self.malformed_remaining = state.faults.take_pending_malformed()
        self.malformed_index = 0
        self.pushes = 0
        self.replay_started = False

    async def send(self, text: str, data: bool = False) -> Sent:
        """Send one text frame unless silenced; ``data`` frames may be swapped for malformed ones."""
        if self.state.faults.silent:
            return Sent.SILENCED
        status = Sent.SENT
        if data and self.malformed_remaining > 0:
            self.malformed_remaining -= 1
            text = malformed_frame(self.malformed_index, text)
            self.malformed_index += 1
            status = Sent.MALFORMED
        if self.ws.closed:
            return Sent.CLOSED
        try:
            await self.ws.send_str(text)
        except ConnectionError:
            return Sent.CLOSED
        self.state.record_frame(self.id, text)
        return status

    def start(self, key: str, coroutine) -> None:
        self.tasks[key] = asyncio.get_running_loop().create_task(coroutine)

    def stop(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def stop_all(self) -> None:
        for key in list(self.tasks):
            self.stop(key)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame: the client sees an abnormal closure."""
        self.stop_all()
        if self.transport is not None:
            self.transport.abort()
