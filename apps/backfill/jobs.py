"""Creating, queueing and cancelling backfill jobs.

Every way of starting a job (admin, REST, command line, new starlistings,
gap repair) comes through ``create_job``: the job is stored queued in the
database of the series it fills (``database``: the live one or the training
one) and sent to the ``backfill`` queue once that database's transaction
commits, so a worker never looks for a job that is not there yet.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.backfill.dispatch import dispatch
from apps.backfill.models import BackfillJob
from apps.backfill.sources import has_open_interest_history
from apps.collectors.exchanges import EXCHANGES, get_adapter
from apps.marketdata import retention
from apps.markets.models import Starlisting, TradingPair


def create_job(
    data_type, *, starlisting_id=None, trading_pair_id=None, start, end, source, database="default", queue=True,
    refill_purged=None,
):  # fmt: skip
    """Store a queued job; with ``queue`` (not for the command line's foreground runs) send it to the workers.

    The window starts no earlier than the series' retention horizon (what retention removed is not fetched
    again) unless ``refill_purged`` (by default only for windows an operator typed in the admin or the API);
    None when nothing of the window is left.
    """
    if refill_purged is None:
        refill_purged = source in (BackfillJob.Source.ADMIN, BackfillJob.Source.API)
    if not refill_purged and database == "default":  # retention purges the live database only
        cutoff = retention.horizons().get(retention.series_policy(data_type, _interval(starlisting_id, database)))
        if cutoff is not None and start < cutoff:
            if end <= cutoff:
                return None
            start = cutoff
    if data_type == "candles" and trading_pair_id is None:
        trading_pair_id = (
            Starlisting.objects.using(database)
            .filter(id=starlisting_id)
            .values_list("trading_pair_id", flat=True)
            .get()
        )
    job = BackfillJob.objects.using(database).create(
        data_type=data_type, starlisting_id=starlisting_id if data_type == "candles" else None,
        trading_pair_id=trading_pair_id, start_time=start, end_time=end, source=source, database=database,
    )  # fmt: skip
    if queue:
        transaction.on_commit(lambda: dispatch(job.id, database), using=database)
    return job


def _interval(starlisting_id, database):
    if starlisting_id is None:
        return None
    return (
        Starlisting.objects.using(database).filter(id=starlisting_id).values_list("interval__name", flat=True).first()
    )


def cancel(job):
    """Cancel a queued or running job (a running one stops after its current page); False if it had ended."""
    return bool(
        BackfillJob.objects.using(job._state.db or "default")
        .filter(id=job.id, status__in=BackfillJob.ACTIVE)
        .update(status=BackfillJob.Status.CANCELLED, finished_at=timezone.now())
    )


def default_window(days=None, now=None):
    """The last ``days`` (default KIRBY_BACKFILL_DAYS) up to now, UTC."""
    end = now or timezone.now()
    return end - timedelta(days=days if days is not None else settings.KIRBY_BACKFILL_DAYS), end


def backfill_new_series(starlisting_ids=(), trading_pair_ids=(), source=BackfillJob.Source.NEW_SERIES):
    """Queue the history of new starlistings (candles) and new perpetual pairs (funding; open interest where kept)."""
    start, end = default_window()
    jobs = []
    for starlisting in Starlisting.objects.filter(id__in=starlisting_ids, active=True).select_related(
        "trading_pair__exchange"
    ):
        if starlisting.trading_pair.exchange.name in EXCHANGES:
            jobs.append(create_job("candles", starlisting_id=starlisting.id, start=start, end=end, source=source))
    pairs = TradingPair.objects.filter(id__in=trading_pair_ids, active=True).select_related("exchange", "market_type")
    for pair in pairs:
        exchange = pair.exchange.name
        if exchange in EXCHANGES and get_adapter(exchange).symbols.has_asset_context(pair.market_type.name):
            jobs.append(create_job("funding", trading_pair_id=pair.id, start=start, end=end, source=source))
            if has_open_interest_history(exchange):
                jobs.append(create_job("open_interest", trading_pair_id=pair.id, start=start, end=end, source=source))
    return [job for job in jobs if job is not None]
