"""Usage logging skips a row the database would refuse and keeps logging; the purge finds old rows by time."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.access.models import ApiKey, ApiKeyUsage
from apps.access.tasks import purge_api_usage
from apps.access.usage import Use, recorder
from tests.conftest import keyed_client, make_key

CANDLES = "/candles/hyperliquid/BTC/USD/perps/1m"


def skipped():
    return REGISTRY.get_sample_value("kirby_usage_rows_skipped_total") or 0


def test_a_bad_client_address_or_a_nul_in_the_path_is_skipped_and_logging_goes_on(world, settings):
    settings.KIRBY_CLIENT_IP_HEADER = "X-Real-IP"
    client = keyed_client(make_key())
    before = skipped()
    client.get(CANDLES, headers={"X-Real-IP": "not-an-ip"})
    client.get("/no-such-page\x00")  # the 404 is logged like any request
    client.get(CANDLES, headers={"X-Real-IP": "203.0.113.7"})
    recorder.flush()
    client.get("/funding/hyperliquid/BTC/USD/perps", headers={"X-Real-IP": "203.0.113.8"})
    recorder.flush()

    rows = list(ApiKeyUsage.objects.order_by("time").values_list("endpoint", "client_ip"))
    assert rows == [(CANDLES, "203.0.113.7"), ("/funding/hyperliquid/BTC/USD/perps", "203.0.113.8")]
    assert skipped() == before + 2


def test_a_batch_the_database_still_refuses_is_written_row_by_row(world):
    make_key()
    key = ApiKey.objects.get()
    now = timezone.now()
    good = Use(key.id, now, "GET", CANDLES, 200, 1.5, "127.0.0.1", "bot")
    # A status beyond smallint: nothing checks it before the database does.
    bad = good._replace(status=70000, time=now + timedelta(seconds=1))
    before = skipped()
    for use in (good, bad, good._replace(time=now + timedelta(seconds=2))):
        recorder.record(use)

    assert recorder.flush() == 2
    assert ApiKeyUsage.objects.count() == 2 and skipped() == before + 1


def test_the_usage_purge_deletes_by_time_through_an_index(world, settings):
    make_key()
    key = ApiKey.objects.get()
    old = timezone.now() - timedelta(days=settings.KIRBY_USAGE_RETENTION_DAYS + 1)
    ApiKeyUsage.objects.bulk_create(
        [ApiKeyUsage(api_key=key, time=old - timedelta(minutes=i), method="GET", endpoint="/", status=200,
                     latency_ms=1.0) for i in range(3)]
        + [ApiKeyUsage(api_key=key, time=timezone.now(), method="GET", endpoint="/", status=200, latency_ms=1.0)]
    )  # fmt: skip

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN DELETE FROM {ApiKeyUsage._meta.db_table} WHERE time < %s", [old])
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "access_usage_time" in plan
    assert purge_api_usage() == 3 and ApiKeyUsage.objects.count() == 1
