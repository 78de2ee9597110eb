"""Every Kirby task is bounded in time, and a beat message expires before the next one of its entry is sent."""

import time

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from kirby.celery import app
from lib.tasks import beat_entry, dispatch_once, expires_after
from tests.waiting import wait_for


def kirby_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith("apps.")}


def test_every_kirby_task_has_a_time_limit_above_its_soft_limit():
    tasks = kirby_tasks()
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(tasks)
    assert {"apps.collectors.tasks.run_stream", "apps.backfill.tasks.run_backfill"} <= set(tasks)
    for name, task in tasks.items():
        assert task.time_limit and task.time_limit > 0, f"{name} has no time_limit"
        if task.soft_time_limit is not None:
            assert 0 < task.soft_time_limit < task.time_limit, f"{name}: soft limit not below the hard one"


def test_a_stream_ends_itself_before_celery_would_end_it():
    run_stream = kirby_tasks()["apps.collectors.tasks.run_stream"]
    assert settings.KIRBY_COLLECTOR_STREAM_LIFETIME_SECONDS < run_stream.soft_time_limit < run_stream.time_limit


def test_no_task_carries_a_constant_expiry_of_its_own():
    # A decorator's expires would apply whatever the beat period: expiry comes from the beat entry.
    for name, task in kirby_tasks().items():
        assert task.expires is None, f"{name} declares expires={task.expires}"


@pytest.mark.parametrize("entry", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_a_beat_message_expires_within_its_period(entry):
    declared = settings.CELERY_BEAT_SCHEDULE[entry]
    period = float(declared["schedule"])
    options = declared["options"]
    assert options["expires"] == options["expire_seconds"] == expires_after(period)
    assert 0.5 * period <= options["expires"] < period


def test_the_expiry_follows_the_period():
    assert beat_entry("t", 5.0)["options"]["expires"] < beat_entry("t", 60.0)["options"]["expires"] < 60


@pytest.mark.django_db
def test_django_celery_beat_stores_each_entrys_expiry():
    for name, declared in settings.CELERY_BEAT_SCHEDULE.items():
        # What beat does with each entry at start (DatabaseScheduler.update_from_dict).
        entry = DatabaseScheduler.Entry.from_entry(name, app=app, **declared)
        assert entry.options["expires"] == declared["options"]["expire_seconds"]
        stored = PeriodicTask.objects.get(name=name)
        assert stored.task == declared["task"]
        assert stored.expire_seconds == declared["options"]["expire_seconds"]


def test_dispatch_once_lets_one_caller_through_per_period():
    name = f"test/{time.monotonic_ns()}"
    assert dispatch_once(name, 0.3) is True
    assert dispatch_once(name, 0.3) is False
    assert dispatch_once(f"{name}-other", 0.3) is True
    wait_for(lambda: dispatch_once(name, 0.3), 5, "the claim to lapse", interval=0.05)
