"""Where the backfill app (issue 6) plugs into the status document and the metrics.

NOT CONNECTED YET: the backfill jobs and the gap ledger live on another
branch. After merging, connect them once, e.g. in the backfill app's
``AppConfig.ready``::

    from apps.operations.status import hooks
    hooks.connect(
        running_jobs=lambda: [
            {"id": job.id, "starlisting": str(job.starlisting), "state": job.state,
             "progress": job.progress, "rows": job.rows_written, "started_at": job.started_at,
             "error": job.error}
            for job in BackfillJob.objects.filter(state="running")
        ],
        job_counts=lambda: dict(BackfillJob.objects.values_list("state").annotate(n=Count("id"))),
        open_gaps=lambda ids: dict(
            Gap.objects.filter(starlisting_id__in=ids, filled_at=None)
            .values_list("starlisting_id").annotate(n=Count("id"))
        ),
    )

and call ``apps.operations.metrics.record_backfill_rows(type, n)`` after each
stored page. Until then the document says ``"connected": false`` for
backfill and ``open_gaps`` is null per starlisting.

Each source is a plain callable returning plain data, so the builders here
know nothing about the backfill models:

- ``running_jobs() -> [dict]``: running jobs (any JSON-able fields; datetimes are fine).
- ``job_counts() -> {state: n}``: jobs per state, also exported as ``kirby_backfill_jobs``.
- ``open_gaps(starlisting_ids) -> {starlisting_id: n}``: unfilled gaps, exported (summed) as ``kirby_gaps_open``.
"""

from apps.operations.metrics import set_backfill_jobs, set_gaps_open

_sources = {"running_jobs": None, "job_counts": None, "open_gaps": None}


def connect(*, running_jobs=None, job_counts=None, open_gaps=None):
    _sources.update(running_jobs=running_jobs, job_counts=job_counts, open_gaps=open_gaps)


def disconnect():
    _sources.update(running_jobs=None, job_counts=None, open_gaps=None)


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
