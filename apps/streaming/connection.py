"""The /ws endpoint: Kirby 1.x's WebSocket protocol (API.md), one ``StreamConnection`` per connection.

``stream`` is a plain ASGI application, not a Channels consumer: a
consumer's dispatch makes a thread hand-off for database housekeeping
around every handler, which the push path and most client messages do not
need. A connection routes and does no rendering: live frames arrive from
the process's ``Hub`` already rendered and go to the connection's
``Outlet``. Database work (validating ids, history) is explicit, through
``database_sync_to_async`` in worker threads. Who may connect, and for how
long, is access's business (``apps.access.ws``).

Order per connection: the ``success`` reply, then per starlisting its
history, and only then its live frames (held meanwhile); the groups are
joined before the history is read, so nothing committed in between is
missed (a row may then come twice: in the history and live).
"""

import asyncio
import logging
from dataclasses import dataclass
from typing import NamedTuple

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

from apps.access import ws
from apps.marketdata.live_books import book_key
from apps.streaming import books, daphne_fastpath, groups, presence, protocol, series
from apps.streaming.hub import hub
from apps.streaming.outlet import Outlet

log = logging.getLogger(__name__)

SLOW_CLIENT_CLOSE_CODE = 4008


@dataclass(frozen=True)
class Limits:
    max_ids: int
    max_subscriptions: int
    max_message_bytes: int
    max_frame_bytes: int
    rate: float
    burst: int
    send_queue: int
    max_queued_bytes: int
    heartbeat_seconds: float

    @classmethod
    def from_settings(cls):
        return cls(
            max_ids=settings.KIRBY_WS_MAX_IDS_PER_MESSAGE,
            max_subscriptions=settings.KIRBY_WS_MAX_SUBSCRIPTIONS,
            max_message_bytes=settings.KIRBY_WS_MAX_MESSAGE_BYTES,
            # Never below the message limit: up to that a message gets an error reply, not a close.
            max_frame_bytes=max(settings.KIRBY_WS_MAX_FRAME_BYTES, settings.KIRBY_WS_MAX_MESSAGE_BYTES),
            rate=settings.KIRBY_WS_RATE_PER_SECOND,
            burst=settings.KIRBY_WS_RATE_BURST,
            send_queue=settings.KIRBY_WS_SEND_QUEUE,
            max_queued_bytes=settings.KIRBY_WS_MAX_QUEUED_BYTES,
            heartbeat_seconds=settings.KIRBY_WS_HEARTBEAT_SECONDS,
        )


class Subscription(NamedTuple):
    series: series.Series
    channels: frozenset


def _in_thread(function):
    """``function`` in a worker thread, its database connection released afterwards.

    Not thread-sensitive: one client's large history does not queue everyone
    else's queries behind it. The connection is released here as well as by
    ``database_sync_to_async`` because Channels' test communicator switches
    the latter off.
    """

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return database_sync_to_async(run, thread_sensitive=False)


def _history_cost(ids, found, channels):
    """What a history request reads, in REST requests: one per series (a pair's funding and OI are sent once)."""
    pair_series = len(channels.intersection(groups.PAIR_CHANNELS))
    pairs = {found[sid].trading_pair_id for sid in ids}
    return len(ids) * (groups.CANDLES in channels) + len(pairs) * pair_series


async def stream(scope, receive, send):
    """The ASGI application of /ws."""
    await StreamConnection(scope, send).run(receive)


class StreamConnection:
    """One client's connection: its grant, subscriptions, held history and outlet."""

    def __init__(self, scope, send):
        self.scope = scope
        self.base_send = send
        self.grant = None
        self.limits = Limits.from_settings()
        self.outlet = None
        self.hub = None
        self.subscriptions = {}  # starlisting id -> Subscription
        self.held = {}  # starlisting id -> live frames waiting for its history
        self.groups = set()
        self.books = {}  # starlisting id -> Redis key of the book it follows (the orderbook channel)
        self.book_slots = {}  # starlisting id -> the newest book not sent yet (the outlet was behind)
        self.closing = False
        self._heartbeat = None
        self._watch = None
        self._closer = None
        self.counted = False  # in the open-connection count (apps.streaming.presence)

    async def run(self, receive):
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.websocket_receive(message)
                elif kind == "websocket.connect":
                    await self.websocket_connect(message)
                elif kind == "websocket.disconnect":
                    break
        finally:
            await self._cleanup()

    async def websocket_connect(self, message):
        # Before the accept: from then on Daphne would read a frame of any size before we see it.
        daphne_fastpath.limit_incoming(self.base_send, self.limits.max_frame_bytes)
        # A WebSocket refused during the handshake only learns "403": a refused
        # client is accepted and closed at once with the code and reason.
        await self.base_send({"type": "websocket.accept"})
        self.outlet = Outlet(
            self.base_send,
            limit=self.limits.send_queue,
            max_bytes=self.limits.max_queued_bytes,
            on_overflow=self._overflow,
        )
        admission = await ws.authenticate(self.scope)
        if isinstance(admission, ws.Refusal):
            self.closing = True
            await self.outlet.close(admission.code, admission.reason)
            return
        self.grant = admission
        self.hub = hub()
        self.hub.attach()
        self.counted = True
        await presence.opened()
        self.rate = protocol.TokenBucket(self.limits.rate, self.limits.burst)
        self._schedule_heartbeat()
        if self.grant.checked:
            self._watch = asyncio.ensure_future(self._close_when_refused())

    async def websocket_receive(self, message):
        if self.closing:
            return
        if not self.rate.allow():
            limits = self.limits
            return self.reply_error(
                protocol.RATE_LIMITED,
                f"Rate limit exceeded: at most {limits.rate:g} messages per second (bursts of {limits.burst})",
            )
        text = message.get("text")
        if text is None:
            return self.reply_error(protocol.INVALID_JSON, "Binary frames are not supported: send JSON as text")
        maximum = self.limits.max_message_bytes
        if len(text) > maximum or (len(text) * 4 > maximum and len(text.encode()) > maximum):
            return self.reply_error(protocol.MESSAGE_TOO_LARGE, f"Message too large: at most {maximum} bytes")
        try:
            command = protocol.parse(text, max_ids=self.limits.max_ids)
            if isinstance(command, protocol.Subscribe):
                await self.subscribe(command)
            elif isinstance(command, protocol.Unsubscribe):
                await self.unsubscribe(command)
            else:
                self.outlet.put(groups.pong())
        except protocol.ProtocolError as error:
            self.reply_error(error.code, error.message)
        except Exception:
            log.exception("WebSocket message failed: %.200s", text)
            self.reply_error(
                protocol.INTERNAL_ERROR, "Internal server error: the request was not completed, please retry"
            )

    def reply_error(self, code, message, **extra):
        self.outlet.put(groups.error(code, message, **extra))

    async def subscribe(self, command):
        ids = command.starlisting_ids
        new = [sid for sid in ids if sid not in self.subscriptions]
        if len(self.subscriptions) + len(new) > self.limits.max_subscriptions:
            raise protocol.ProtocolError(
                protocol.SUBSCRIPTION_LIMIT,
                f"starlisting_ids: at most {self.limits.max_subscriptions} subscriptions per connection"
                f" ({len(self.subscriptions)} active, {len(new)} new)",
            )
        found = await _in_thread(series.starlistings)(ids)
        bad = [sid for sid in ids if sid not in found or not found[sid].active]
        if bad:
            listed = ", ".join(map(str, bad))
            return self.reply_error(
                protocol.INVALID_STARLISTING, f"Invalid or inactive starlisting IDs: [{listed}]", starlisting_ids=bad
            )
        if command.history:
            refused = await ws.charge(self.grant, _history_cost(ids, found, command.channels))
            if refused:
                return self.reply_error(protocol.RATE_LIMITED, refused)
        for sid in ids:
            self.held.setdefault(sid, [])
        try:
            previous = dict(self.subscriptions)
            for sid in ids:
                current = self.subscriptions.get(sid)
                channels = (command.channels | current.channels) if current else command.channels
                self.subscriptions[sid] = Subscription(found[sid], channels)
            try:
                await self._follow_groups()
            except BaseException:
                self.subscriptions = previous
                raise
            self.outlet.put(groups.success(f"Subscribed to {len(ids)} starlisting(s)", ids))
            if command.history:
                await self._send_history(ids, found, command)
        finally:
            for sid in ids:
                self._release(sid)

    async def _send_history(self, ids, found, command):
        pairs_sent = set()
        for sid in ids:
            wanted = found[sid]
            first_of_pair = wanted.trading_pair_id not in pairs_sent
            pairs_sent.add(wanted.trading_pair_id)
            texts = await _in_thread(series.history_texts)(wanted, command.history, command.channels, first_of_pair)
            self.outlet.put_many(texts)
            self._release(sid)

    def _release(self, sid):
        texts = self.held.pop(sid, None)
        if texts:
            self.outlet.put_many(texts)

    async def unsubscribe(self, command):
        for sid in command.starlisting_ids:
            current = self.subscriptions.get(sid)
            if current is None:
                continue
            remaining = current.channels - command.channels
            if remaining:
                self.subscriptions[sid] = current._replace(channels=remaining)
            else:
                del self.subscriptions[sid]
                self.held.pop(sid, None)
        await self._follow_groups()
        ids = command.starlisting_ids
        self.outlet.put(groups.success(f"Unsubscribed from {len(ids)} starlisting(s)", ids))

    async def _follow_groups(self):
        """Join and leave groups so that they match the subscriptions."""
        wanted = set()
        for sid, subscription in self.subscriptions.items():
            if groups.CANDLES in subscription.channels:
                wanted.add(groups.candle_group(sid))
            if not subscription.channels.isdisjoint((*groups.PAIR_CHANNELS, groups.TRADES)):
                wanted.add(groups.pair_group(subscription.series.trading_pair_id))
        self._follow_books()
        for group in self.groups - wanted:
            self.groups.discard(group)
            await self.hub.remove(group, self)
        for group in wanted - self.groups:
            await self.hub.add(group, self)
            self.groups.add(group)

    def _follow_books(self):
        wanted = {
            sid: book_key(s.series.exchange, s.series.coin, s.series.quote, s.series.market_type)
            for sid, s in self.subscriptions.items()
            if groups.ORDERBOOK in s.channels
        }
        feed = books.feed()
        for sid, key in list(self.books.items()):
            if wanted.get(sid) != key:
                feed.unfollow(key, self, sid)
                del self.books[sid]
                self.book_slots.pop(sid, None)
        for sid, key in wanted.items():
            if sid not in self.books:
                self.books[sid] = key
                feed.follow(key, self, sid, self.subscriptions[sid].series)

    def offer_book(self, sid, text):
        """The newest book of ``sid``: sent now if the outlet keeps up, else it waits in the slot (replacing older)."""
        if sid in self.held:
            self.book_slots[sid] = text  # history first; the newest book after it
        elif self.outlet.behind:
            self.book_slots[sid] = text
        else:
            self.book_slots.pop(sid, None)
            self.outlet.put(text)

    def flush_books(self):
        if self.book_slots and not self.outlet.behind:
            for sid in [sid for sid in self.book_slots if sid not in self.held]:
                self.outlet.put(self.book_slots.pop(sid))

    def push(self, message):
        """A group message from the hub: queue the frames of the starlistings subscribed here."""
        channel = message["channel"]
        for sid, text in message["texts"]:
            subscription = self.subscriptions.get(sid)
            if subscription is None or channel not in subscription.channels:
                continue
            held = self.held.get(sid)
            if held is None:
                self.outlet.put(text)
            else:
                held.append(text)

    def _schedule_heartbeat(self):
        self._heartbeat = asyncio.get_running_loop().call_later(self.limits.heartbeat_seconds, self._beat)

    def _beat(self):
        if not self.outlet.closed:
            self.outlet.put(groups.ping())
            self._schedule_heartbeat()

    async def _close_when_refused(self):
        """Close the connection once its key is revoked, deactivated or expired (API.md)."""
        refusal = await ws.watch(self.grant)
        if self.outlet.closed:
            return
        self.closing = True
        await self._leave_groups()
        await self.outlet.close(refusal.code, refusal.reason)

    def _overflow(self):
        self.closing = True
        if self.outlet.overflowed_by == "bytes":
            reason = f"Client too slow: more than {self.limits.max_queued_bytes} bytes waiting to be sent"
        else:
            reason = f"Client too slow: more than {self.limits.send_queue} messages waiting to be sent"
        log.warning("closing slow WebSocket client %s: %s", self.scope.get("client"), reason)
        self._closer = asyncio.ensure_future(self._close_slow(reason))

    async def _close_slow(self, reason):
        await self._leave_groups()
        await self.outlet.close(SLOW_CLIENT_CLOSE_CODE, reason, last_words=groups.error(protocol.SLOW_CONSUMER, reason))

    async def _leave_groups(self):
        for group in list(self.groups):
            self.groups.discard(group)
            await self.hub.remove(group, self)

    async def _cleanup(self):
        # Every step runs whatever the one before did: Redis failing in the middle (the slot, the
        # presence count) must not leave this connection in the hub or its outlet running.
        for step in (self._give_back_slot, self._uncount, self._stop_timers, self._finish_closing, self._detach):
            try:
                await step()
            except Exception:
                log.exception("WebSocket cleanup: %s failed; going on", step.__name__.strip("_"))
        if self.outlet is not None:
            await self.outlet.stop()

    async def _give_back_slot(self):
        if self._watch is not None:
            self._watch.cancel()
        if self.grant is not None:  # first: the client may already be reconnecting
            await ws.release(self.grant)

    async def _uncount(self):
        if self.counted:
            self.counted = False
            await presence.closed()

    async def _stop_timers(self):
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    async def _finish_closing(self):
        if self._closer is not None and not self._closer.done():
            await self._closer

    async def _detach(self):
        if self.books:
            feed = books.feed()
            for sid, key in self.books.items():
                feed.unfollow(key, self, sid)
            self.books, self.book_slots = {}, {}
        if self.hub is not None:
            groups_joined, self.groups = list(self.groups), set()
            await self.hub.detach(self, groups_joined)
