"""The ``orderbook`` channel: current books from Redis, conflated per client.

Each server process polls the books its clients follow, all in one Redis
MGET, ``KIRBY_WS_BOOK_HZ`` times a second, and hands a book that changed to
its followers. A client gets the newest book at most that often and never a
backlog: while its outlet still holds frames (a slow reader), the newest
book waits in its one slot, replaced by any newer one, and goes out when the
outlet has drained. A book not published for KIRBY_BOOK_STALE_SECONDS goes
out once as not in sync (``live_books.served``). No group messages, no
database: the collector's Redis entry is the only source
(apps.marketdata.live_books).
"""

import asyncio
import logging
import time

import orjson
from django.conf import settings

from apps.marketdata import live_books
from apps.streaming import groups

log = logging.getLogger(__name__)

_feeds = {}  # event loop -> BookFeed


def feed():
    loop = asyncio.get_running_loop()
    found = _feeds.get(loop)
    if found is None:
        found = _feeds[loop] = BookFeed()
    return found


class BookFeed:
    def __init__(self):
        self.followers = {}  # Redis key -> {connection: {starlisting id: series}}
        self.seen = {}  # Redis key -> published_at of the last book handed out
        self.newcomers = {}  # Redis key -> {(connection, sid)} that have not had the current book yet
        self._task = None

    def follow(self, key, connection, sid, series):
        self.followers.setdefault(key, {}).setdefault(connection, {})[sid] = series
        # The newcomer gets the current book at the next poll; those who have it do not get it again.
        self.newcomers.setdefault(key, set()).add((connection, sid))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def unfollow(self, key, connection, sid=None):
        watchers = self.followers.get(key)
        if not watchers or connection not in watchers:
            return
        if sid is None:
            del watchers[connection]
        else:
            watchers[connection].pop(sid, None)
            if not watchers[connection]:
                del watchers[connection]
        if not watchers:
            del self.followers[key]
            self.seen.pop(key, None)
            self.newcomers.pop(key, None)

    async def _run(self):
        redis = live_books.client()
        while self.followers:
            await asyncio.sleep(1 / settings.KIRBY_WS_BOOK_HZ)
            keys = list(self.followers)
            try:
                raws = await asyncio.to_thread(redis.mget, keys)
            except Exception as error:  # Redis away: the books pause, the connections stay
                log.warning("order books for /ws could not be read: %s", error)
                continue
            now = time.time()
            for key, raw in zip(keys, raws, strict=True):
                if raw is None or key not in self.followers:
                    continue
                published = orjson.loads(raw)
                book = live_books.served(published, now)
                newcomers = self.newcomers.pop(key, ())
                # What the book says, not when it was published: the collector republishes an unchanged book
                # (so it is not taken for stale), which its followers need not get again.
                version = (published["sequence"], published["time"], published["reason"], book["in_sync"])
                changed = self.seen.get(key) != version
                if not changed and not newcomers:
                    continue
                self.seen[key] = version
                rendered = {}
                for connection, sids in list(self.followers[key].items()):
                    for sid, series in sids.items():
                        if not changed and (connection, sid) not in newcomers:
                            continue
                        text = rendered.get(sid)
                        if text is None:
                            text = rendered[sid] = groups.book_text(series, book)
                        connection.offer_book(sid, text)
            for watchers in list(self.followers.values()):
                for connection in list(watchers):
                    connection.flush_books()
