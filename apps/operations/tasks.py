"""Beat task: one sample of the dashboard's time series (apps.operations.samples)."""

from celery import shared_task

from apps.operations.samples import take_sample


@shared_task(ignore_result=True, time_limit=60)
def sample_status():
    """Store a sample unless one was taken less than a period ago (the status builder may have)."""
    sample = take_sample()
    return None if sample is None else sample["t"]
