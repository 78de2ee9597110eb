"""Where the backfill app (issue 6) plugs into the status document and the metrics.

NOT CONNECTED YET: the backfill jobs and the gap ledger (apps.backfill,
issue 6) are on main, not on this branch. After merging, connect them once,
e.g. in ``BackfillConfig.ready``::

    from django.db.models import Count
    from apps.backfill.models import BackfillJob, Gap
    from apps.operations.status import hooks

    hooks.connect(
        running_jobs=lambda: list(
            BackfillJob.objects.filter(status=BackfillJob.Status.RUNNING).values(
                "id", "data_type", "starlisting_id", "start_time", "end_time", "checkpoint",
                "rows_written", "pages", "started_at", "last_error")
        ),
        job_counts=lambda: dict(BackfillJob.objects.values_list("status").annotate(n=Count("id"))),
        open_gaps=lambda ids: dict(
            Gap.objects.filter(starlisting_id__in=ids, status=Gap.Status.OPEN)
            .values_list("starlisting_id").annotate(n=Count("id"))
        ),
        completeness=lambda ids: {...},  # {starlisting id: ratio 0..1 or None}, from apps.backfill.completeness
    )

and call ``apps.operations.metrics.record_backfill_rows(type, n)`` after each
stored page (and pass ``exchange=`` to the writer there and in stream
repairs). Until then the document says ``"connected": false`` for backfill,
``open_gaps`` is null per starlisting and completeness is computed here.

Each source is a plain callable returning plain data, so the builders here
know nothing about the backfill models:

- ``running_jobs() -> [dict]``: running jobs (any JSON-able fields; datetimes are fine).
- ``job_counts() -> {state: n}``: jobs per state, also exported as ``kirby_backfill_jobs``.
- ``open_gaps(starlisting_ids) -> {starlisting_id: n}``: open gaps, exported (summed) as ``kirby_gaps_open``.
- ``completeness(starlisting_ids) -> {starlisting_id: ratio or None}``: replaces the estimate of
  apps.operations.status.starlistings (which cannot tell slots the exchange has no data for).
"""

from apps.operations.metrics import set_backfill_jobs, set_gaps_open

_sources = {"running_jobs": None, "job_counts": None, "open_gaps": None, "completeness": None}


def connect(*, running_jobs=None, job_counts=None, open_gaps=None, completeness=None):
    _sources.update(running_jobs=running_jobs, job_counts=job_counts, open_gaps=open_gaps, completeness=completeness)


def disconnect():
    _sources.update(dict.fromkeys(_sources))


def is_connected():
    return any(source is not None for source in _sources.values())


def running_jobs():
    source = _sources["running_jobs"]
    return None if source is None else list(source())


def job_counts():
    source = _sources["job_counts"]
    if source is None:
        return None
    counts = dict(source())
    set_backfill_jobs(counts)
    return counts


def open_gaps(starlisting_ids):
    """{starlisting id: open gaps}, or None while no gap ledger is connected."""
    source = _sources["open_gaps"]
    if source is None:
        return None
    gaps = dict(source(starlisting_ids))
    set_gaps_open(sum(gaps.values()))
    return gaps


def completeness(starlisting_ids):
    """{starlisting id: ratio or None} from the backfill app, or None while it is not connected."""
    source = _sources["completeness"]
    return None if source is None else dict(source(starlisting_ids))
