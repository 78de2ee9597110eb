"""manage.py backfill: foreground runs without a worker, progress, a summary, and one-line errors."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from apps.backfill.models import BackfillJob
from tests.backfill.conftest import FROZEN, MINUTE, START, at, stored, truth
from tests.collectors.harness import start_simulator
from tests.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

END = START - START % MINUTE - 60 * MINUTE


@pytest.fixture
def manage():
    handle = start_simulator(**{**FROZEN, "page_limit": 40})
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "KIRBY_HYPERLIQUID_REST_URL": f"{handle.url}/info",
        "KIRBY_HYPERLIQUID_REST_WEIGHT_PER_MINUTE": "100000",
    }

    def run(*args):
        return subprocess.run([sys.executable, "manage.py", "backfill", *args], cwd=settings.BASE_DIR, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    yield run
    handle.stop()


def iso(ms):
    return at(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_command_backfills_in_the_foreground_with_progress_and_a_summary(world_committed, manage):
    world = world_committed
    result = manage("--coin", "btc", "--interval", "1m", "--start-time", iso(END - 400 * MINUTE),
                    "--end-time", iso(END))  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    bars = [line for line in lines if line.startswith("hyperliquid/BTC/USD/perps/1m [")]
    assert len(bars) >= 5 and "  0.0%" in bars[0] and "100.0%" in bars[-1]
    expected = truth("BTC", "1m", END - 400 * MINUTE, END)
    assert lines[-1].startswith(f"hyperliquid/BTC/USD/perps/1m: succeeded: {len(expected)} rows written from ")
    assert stored(world.btc_1m) == expected
    job = BackfillJob.objects.get()
    assert (job.source, job.status, job.rows_written) == ("cli", "succeeded", len(expected))


def test_the_summary_says_when_the_exchange_did_not_have_everything(world_committed, manage):
    result = manage("--coin", "SOL", "--interval", "1m", "--start-time", iso(END - 5200 * MINUTE),
                    "--end-time", iso(END))  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "note: the exchange had data only from" in result.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--interval", "1m"], "one of the arguments --coin --all is required"),
        (["--coin", "BTC", "--days", "many"], "argument --days: invalid int value: 'many'"),
        (["--coin", "BTC", "--days", "3", "--start-time", "2025-01-01"], "not allowed with argument"),
        (["--coin", "DOGE", "--interval", "1m"], "--coin: no trading pair matches 'DOGE'"),
        (["--coin", "BTC", "--interval", "2m"], "--interval: hyperliquid/BTC/USD/perps has no '2m' starlisting"),
        (["--coin", "BTC", "--start-time", "soon"], "--start-time: must be an ISO-8601 time"),
        (["--coin", "BTC", "--start-time", "2025-02-01", "--end-time", "2025-01-01"], "--end-time: must be after"),
    ],
)
def test_a_bad_argument_gets_a_clear_one_line_error(world_committed, manage, args, message):
    result = manage(*args)

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not BackfillJob.objects.exists()
