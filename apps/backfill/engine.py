"""The history engine: pages a series' exchange history into one database through the one write path.

Jobs (apps.backfill.runner), the collector's reconnect repair
(apps.backfill.repair) and the training backfill (apps.backfill.training)
all fill a window ``[start, end)`` of a series here. The source (see
apps.backfill.sources) knows the exchange adapter, the budget its REST calls
are paid from and the target database; the engine asks it page by page,
stores each page in its own transaction (with the caller's bookkeeping,
``on_page``, inside it: a job's checkpoint commits with its rows) and counts
pages in ``kirby_history_pages_total{purpose}``. It stops at the window's
end, at a page that reaches the still-open present, or after ``max_pages``.
What it found goes to the gap ledger through the callers' ledger calls,
which run against the same database.
"""

from dataclasses import dataclass

from django.db import transaction

from lib.metrics import HISTORY_PAGES

PURPOSES = ("job", "repair", "training")


@dataclass
class Filled:
    pages: int = 0
    received: int = 0  # rows handed to the write path
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    last_ms: int | None = None  # time of the last row the exchange returned
    complete: bool = False  # the whole window was read (nothing cut short by max_pages or the present)

    @property
    def written(self):
        return self.inserted + self.updated


def fill(source, start_ms, end_ms, *, purpose, publish=True, max_pages=None, on_page=None, after_page=None):
    """Page ``[start_ms, end_ms)`` of ``source`` into ``source.using``; return what was stored.

    ``on_page(page, written, filled)`` runs inside each page's transaction (raising
    there rolls the page back); ``after_page(filled)`` runs once it is committed. Errors of the exchange (rate limits
    included) propagate; pages stored before them stay stored.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    filled = Filled()
    exchange = source.series.exchange
    for raw in source.pages(start_ms, end_ms):
        page = source.convert(raw)
        with transaction.atomic(using=source.using):
            written = source.write(page.records, publish=publish, using=source.using, exchange=exchange)
            filled.pages += 1
            filled.received += written.received
            filled.inserted += written.inserted
            filled.updated += written.updated
            filled.rejected += written.rejected
            filled.last_ms = page.last_ms
            if on_page is not None:
                on_page(page, written, filled)
        HISTORY_PAGES.labels(purpose, exchange).inc()
        if after_page is not None:
            after_page(filled)
        if not page.final or (max_pages is not None and filled.pages >= max_pages):
            return filled
    filled.complete = True
    return filled
