"""schemathesis against a live Daphne over real PostgreSQL with data: every operation of /api/schema/,
with an admin key, a read key and no key. No 500, and every status code, content type and body is
the one the schema documents.

A fixed seed and few examples per operation keep it to seconds here; a longer run with a random seed:
``KIRBY_FUZZ_SEED=random KIRBY_FUZZ_EXAMPLES=200 pytest --ds=tests.settings tests/hardening/test_schema_fuzzing.py``
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import override_settings

from apps.access import keys
from apps.access.models import ApiKey
from apps.backfill.models import BackfillJob, Gap
from apps.marketdata import live_books
from apps.marketdata.export.jobs import download_link
from apps.marketdata.models import ExportJob
from apps.marketdata.records import FundingRecord, OpenInterestRecord, OrderBookRecord, TradeRecord
from apps.marketdata.tasks import run_export_job
from apps.marketdata.writer import write_candles, write_funding, write_open_interest, write_orderbooks, write_trades
from tests.conftest import candle, make_key, utc
from tests.streaming.servers import Daphne

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
T0 = utc(2026, 11, 20)
ROTATABLE = 100
FAR_ID = 2**40

# Fail on every warning schemathesis gives, schema mismatches above all. Without an admin key, most
# operations answer 401/403 by design: that is what those runs check, so "missing_auth" is expected there.
CONFIG = """
[warnings]
display = [{display}]
fail-on = true

# Identifiers of the seeded rows. The spare key takes the revokes and rotations, so the key running the test
# is never revoked under it.
# A key rotates once; a later rotation of it is the documented 400 (revoked): a state, not a validation.
# Drawing from many keys keeps most rotations first ones.
[dictionaries.rotatable]
values = {rotatable}

[[operations]]
include-path-regex = "^/admin/keys/[^/]+/rotate"
parameters = {{ "path.key_id" = {{ dictionary = "rotatable" }} }}

[[operations]]
include-path-regex = "^/admin/keys/[^/]+(/usage)?$"
parameters = {{ key_id = {revoked_key} }}

[[operations]]
include-path-regex = "^/admin/users/[^/]+"
parameters = {{ user_id = {user} }}

[[operations]]
include-path-regex = "^/starlistings/[^/]+"
parameters = {{ starlisting_id = {starlisting} }}

[[operations]]
include-path-regex = "^/backfills/"
parameters = {{ job_id = {backfill} }}

[[operations]]
include-path-regex = "^/exports/[^/]+$"
parameters = {{ job_id = "{export}" }}

[[operations]]
include-path-regex = "^/exports/[^/]+/files/"
parameters = {{ job_id = "{export}", name = "{file}", token = "{token}" }}
"""
ALL_WARNINGS = ["missing_test_data", "validation_mismatch", "missing_deserializer", "unsupported_regex",
                "method_not_allowed", "unresolvable_reference", "unmatched_filter", "base_url_mismatch"]  # fmt: skip


def _seed_data(world, reader_key_id):
    write_candles([candle(s, T0 + timedelta(minutes=i)) for s in (world.btc_1m, world.sol_1m) for i in range(30)])
    write_candles([candle(world.btc_1h, T0 + timedelta(hours=i)) for i in range(5)])
    funding = Decimal("0.0000125")
    write_funding([FundingRecord(world.btc_pair.id, T0 + timedelta(hours=i), funding, None, None, None, None, None,
                                 None) for i in range(5)])  # fmt: skip
    write_open_interest([OpenInterestRecord(world.btc_pair.id, T0 + timedelta(minutes=i), Decimal("0"), None,
                                            Decimal("1200.5"), Decimal("109000000.25")) for i in range(5)])  # fmt: skip
    write_trades([TradeRecord(world.btc_pair.id, T0 + timedelta(milliseconds=i // 3), str(i), "97000.5", "0.01",
                              "buy" if i % 2 else "sell") for i in range(30)])  # fmt: skip
    write_orderbooks([OrderBookRecord(world.btc_pair.id, T0 + timedelta(seconds=i), i, [["97000", "1.5"]],
                                      [["97001", "2"]]) for i in range(5)])  # fmt: skip
    # The current book, fresh for the whole run (a book its collector stopped refreshing is a 503, a 5xx).
    live_books.put_book({"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps"},
                        time_=T0, sequence=4, bids=[["97000", "1.5"]], asks=[["97001", "2"]],
                        published_at=time.time() + 3600)  # fmt: skip
    backfill = BackfillJob.objects.create(data_type="candles", starlisting=world.btc_1m, trading_pair=world.btc_pair,
                                     start_time=T0 - timedelta(days=1), end_time=T0, status="succeeded")  # fmt: skip
    Gap.objects.create(data_type="candles", starlisting=world.btc_1m, trading_pair=world.btc_pair, missing=2,
                       start_time=T0 - timedelta(hours=2), end_time=T0 - timedelta(hours=2) + timedelta(minutes=2),
                       reason="downtime", status="repaired", repaired_at=T0, job=backfill)  # fmt: skip
    export = ExportJob.objects.create(export_type="funding", exchange="hyperliquid", coin="BTC", quote="USD",
                                      market_type="perps", format="csv", created_by_key_id=reader_key_id)  # fmt: skip
    run_export_job(str(export.id))  # what the worker does: a finished job with a file
    export.refresh_from_db()
    name = export.files[0]["name"]
    token = parse_qs(urlsplit(download_link(export, name)[0]).query)["token"][0]
    spare = get_user_model().objects.create(username="spare")
    rotatable = [keys.issue(spare, f"rotatable {n}")[0].id for n in range(ROTATABLE)]
    revoked = keys.issue(spare, "revoked")[0].id
    return {"backfill": backfill.id, "export": export.id, "file": name, "token": token, "rotatable": rotatable,
            "revoked_key": revoked, "user": spare.id, "starlisting": world.btc_1m.id}  # fmt: skip


@pytest.fixture
def server(world_committed, tmp_path):
    exports = tmp_path / "exports"
    secrets = {"admin": make_key("operator", scopes=["read", "admin"]), "read": make_key("reader"), "none": None}
    # The keys running the test live far from the ids a fuzzer tries first (1, 2, ...): revoking or rotating
    # them would turn the rest of the run into 401s.
    for offset, name in enumerate(("admin", "read")):
        ApiKey.objects.filter(id=keys.lookup(secrets[name]).id).update(id=FAR_ID + offset)
    reader = keys.lookup(secrets["read"], fresh=True)
    with override_settings(KIRBY_EXPORT_DIR=exports):  # not the settings fixture: Daphne needs SETTINGS_MODULE
        ids = _seed_data(world_committed, reader.id)
    daphne = Daphne(
        tmp_path / "daphne.log",
        KIRBY_RATE_LIMIT_ENABLED="false",  # the limits have their own tests; here they would only answer 429
        KIRBY_EXPORT_MAX_ACTIVE_JOBS_PER_KEY="100000",  # so are the per-key job caps (tests/stalls)
        KIRBY_BACKFILL_MAX_ACTIVE_JOBS_PER_KEY="100000",
        KIRBY_EXPORT_DIR=str(exports),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"http://127.0.0.1:{daphne.port}/livez", timeout=1)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline and daphne.process.poll() is None, daphne.log()[-3000:]
            time.sleep(0.1)
    yield daphne, secrets, ids
    daphne.stop()
    live_books.client().delete(live_books.book_key("hyperliquid", "BTC", "USD", "perps"))


def _listed(names):
    return ", ".join(f'"{name}"' for name in names)


@pytest.mark.parametrize("who", ["admin", "read", "none"])
def test_every_operation_answers_as_the_schema_documents(server, tmp_path, who):
    daphne, secrets, ids = server
    warnings = ALL_WARNINGS + (["missing_auth"] if who == "admin" else [])
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(display=_listed(warnings), **ids))
    seed = os.environ.get("KIRBY_FUZZ_SEED", "20")
    # One worker: hypothesis parses lambdas' source to describe them, which is not thread-safe.
    argv = [
        str(SCHEMATHESIS), "--no-color", "--config-file", str(config), "run",
        f"http://127.0.0.1:{daphne.port}/api/schema/?format=json",
        "--checks", CHECKS, "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("KIRBY_FUZZ_EXAMPLES", "8"), "--workers", "1",
        "--request-timeout", "20", "--suppress-health-check", "all",
        *([] if seed == "random" else ["--seed", seed]),
        *([] if secrets[who] is None else ["--header", f"Authorization: Bearer {secrets[who]}"]),
    ]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    print(run.stdout, run.stderr)  # pytest shows it when the test fails: the failures and how to reproduce them

    assert run.returncode == 0
    assert "Warnings" not in run.stdout and "WARNINGS" not in run.stdout
