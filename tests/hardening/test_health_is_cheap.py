"""/health serves the completeness the status sampler stored: a constant, small number of queries
however many starlistings there are, its age shown, and a per-address limit."""

import time

from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.marketdata.writer import write_candles
from apps.operations.samples import take_sample
from tests.conftest import candle, utc


def _queries(client):
    from django.db import connection

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/health").status_code == 200
    return len(captured)


def test_health_does_one_query_whatever_the_number_of_starlistings(world):
    write_candles([candle(s, utc(2026, 11, 20, 0, 0)) for s in (world.btc_1m, world.btc_1h, world.sol_1m)])
    take_sample(force=True)
    few = _queries(Client())
    for name in ("5m", "15m", "30m", "4h", "12h", "1d", "1w"):
        world.starlisting(world.sol_pair, name)
    take_sample(force=True)

    assert few == _queries(Client()) == 1  # the database probe; completeness comes from Redis


def test_health_serves_the_sampled_completeness_and_says_how_old_it_is(world):
    take_sample(force=True, now=time.time() - 42)

    body = Client().get("/health").json()

    assert set(body["completeness"]) == {
        "hyperliquid/BTC/USD/perps/1m",
        "hyperliquid/BTC/USD/perps/1h",
        "hyperliquid/SOL/USD/perps/1m",
    }
    assert 42 <= body["completeness_age_seconds"] < 60
    assert body["completeness_computed_at"].endswith("Z")


def test_a_burst_of_health_requests_from_one_address_meets_429s(world, settings):
    settings.KIRBY_HEALTH_RATE_LIMIT_PER_MINUTE = 5
    burst = [Client(REMOTE_ADDR="203.0.113.9").get("/health") for _ in range(8)]
    codes = [response.status_code for response in burst]

    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
    assert burst[-1].json() == {"detail": "Rate limit exceeded"} and int(burst[-1]["Retry-After"]) >= 1
    assert Client(REMOTE_ADDR="203.0.113.10").get("/health").status_code == 200  # another address is unaffected
