"""One channel-layer receiver per server process, shared by all its connections.

Channels' usual shape gives every connection its own channel: a group of a
thousand subscribers in one process then costs a thousand channel-layer
receives, wake-ups and dispatches per message. Here the process joins each
group once, with one channel, when its first local subscriber arrives;
each group message is read once and handed to the local subscribers, which
only queue the pre-rendered text (``Outlet``). Nothing on this path touches
the database.

Membership in the channel layer follows the local subscribers: joined
(and awaited) before the first subscriber's ``add`` returns, left when the
last one goes, refreshed before channels_redis's group expiry would drop
it. A hub lives as long as its event loop has connections.
"""

import asyncio
import logging

from channels.layers import get_channel_layer

from apps.streaming.groups import PUSH, rendered

log = logging.getLogger(__name__)

_hubs = {}  # event loop -> Hub


def hub():
    """The hub of the running event loop, started on first use."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub(get_channel_layer())
    return found


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.members = {}  # group -> set of subscribers (objects with ``push(message)``)
        self.joined = set()  # groups this hub's channel belongs to in the layer
        self.connections = 0
        self.channel = None
        self._membership = asyncio.Lock()  # layer group_add / group_discard, one at a time
        self._tasks = []

    def attach(self):
        self.connections += 1

    async def detach(self, subscriber, groups):
        for group in groups:
            await self.remove(group, subscriber)
        self.connections -= 1
        if self.connections == 0:
            await self.stop()

    async def add(self, group, subscriber):
        """Deliver ``group``'s messages to ``subscriber`` from the time this returns."""
        self.members.setdefault(group, set()).add(subscriber)
        if group in self.joined or self.layer is None:
            return
        async with self._membership:
            if group not in self.joined and self.members.get(group):
                try:
                    await self._start()
                    await self.layer.group_add(group, self.channel)
                except BaseException:
                    self.members[group].discard(subscriber)
                    if not self.members[group]:
                        del self.members[group]
                    raise
                self.joined.add(group)

    async def remove(self, group, subscriber):
        members = self.members.get(group)
        if members is None:
            return
        members.discard(subscriber)
        if members:
            return
        del self.members[group]
        async with self._membership:
            if group in self.joined and not self.members.get(group):
                self.joined.discard(group)  # before the await: a concurrent add joins again after us
                await self._leave(group)

    def deliver(self, message):
        if message.get("type") != PUSH:
            return
        try:
            rendered(message)
        except Exception:
            log.exception("could not render a stream message for %s", message.get("group"))
            return
        for subscriber in tuple(self.members.get(message["group"], ())):
            try:
                subscriber.push(message)
            except Exception:
                log.exception("could not deliver a stream message to %r", subscriber)

    async def _start(self):
        if self.channel is None:
            self.channel = await self.layer.new_channel("kirby-ws")
            self._tasks = [asyncio.ensure_future(self._receive()), asyncio.ensure_future(self._refresh())]

    async def stop(self):
        if _hubs.get(asyncio.get_running_loop()) is self:
            del _hubs[asyncio.get_running_loop()]
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        async with self._membership:
            for group in list(self.joined):
                self.joined.discard(group)
                await self._leave(group)

    async def _leave(self, group):
        try:
            await self.layer.group_discard(group, self.channel)
        except Exception:
            log.exception("could not leave group %s (it expires by itself)", group)

    async def _receive(self):
        delay = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("channel layer receive failed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                await self._rejoin()  # a restarted Redis has forgotten the groups
                continue
            delay = 0.1
            self.deliver(message)

    async def _refresh(self):
        """Re-join every group well before the layer's group expiry (channels_redis: a day) drops us."""
        period = max(1.0, min(3600.0, getattr(self.layer, "group_expiry", 86400) / 4))
        while True:
            await asyncio.sleep(period)
            await self._rejoin()

    async def _rejoin(self):
        async with self._membership:
            for group in list(self.joined):
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception:
                    log.warning("could not re-join group %s; retrying later", group)
                    return
