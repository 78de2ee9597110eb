"""Bybit linear perps and spot, end to end over real sockets and processes.

Simulator -> stream tasks in real Celery workers -> PostgreSQL -> REST and /ws, through the faults a
Bybit connection meets: a dropped connection, silence, and a SIGKILLed worker with a second one
available. One scenario carries every fault; the stored series are checked once at the end.
"""

import os
import signal
from decimal import Decimal

import pytest

from apps.collectors.lease import holder
from apps.collectors.simulator import bybit as simulated
from apps.collectors.stream_documents import stream_statuses
from apps.marketdata.models import FundingRate, OpenInterest
from lib.timeutil import to_ms
from tests.collectors.harness import SEED, BinanceWorld, control, processes_running, simulator_running
from tests.collectors.test_binance_end_to_end import (
    closed_candle_over_ws,
    closed_count,
    only_the_latest_is_open,
    status,
    to_ms_text,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LINEAR_STREAM, SPOT_STREAM = "bybit/0", "bybit/1"  # endpoints sort: linear before spot


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback):
    return BinanceWorld("bybit", "Bybit")


@pytest.fixture
def simulator():
    with simulator_running() as handle:
        yield handle


@pytest.fixture
def processes(simulator, tmp_path):
    with processes_running(simulator, tmp_path) as running:
        yield running


def assert_series_exact(client, path, category):
    items = client.get(path, {"limit": 5000}).json()["data"]
    times = [to_ms_text(item["time"]) for item in items]
    assert len(times) == len(set(times)), "duplicate candles"
    assert all(item["closed"] for item in items[:-1]), "an open candle before a closed one"
    closed = [item for item in items if item["closed"]]
    assert len(closed) >= 8
    assert all(item["num_trades"] is None for item in closed)  # Bybit does not count trades
    stored = [
        (to_ms_text(i["time"]), *(Decimal(i[k]) for k in ("open", "high", "low", "close", "volume"))) for i in closed
    ]
    truth = simulated.truth_klines(SEED, category, "BTCUSDT", "1m", stored[0][0], stored[-1][0] + 1)
    assert stored == truth  # contiguous: nothing missing, nothing added, every digit


def assert_context_rows_are_what_was_sent(simulator, pair, symbol):
    """Funding and open-interest rows hold a ticker state Bybit sent (deltas merged), one side of open interest."""
    sent = [e["ctx"] for e in control(simulator, f"/control/ctx-log?coin=bybit:{symbol}")]
    marks = {Decimal(c["markPrice"]) for c in sent}
    funding_sent = {
        (Decimal(c["fundingRate"]), Decimal(c["markPrice"]), Decimal(c["indexPrice"]), int(c["nextFundingTime"]))
        for c in sent
    }
    interest_sent = {
        (Decimal(c["singleOpenInterest"]), Decimal(c["volume24h"]), Decimal(c["turnover24h"])) for c in sent
    }
    funding = list(FundingRate.objects.filter(trading_pair=pair))
    interest = list(OpenInterest.objects.filter(trading_pair=pair))
    assert len(funding) >= 5 and len(interest) >= 5
    for row in funding:
        key = (row.funding_rate, row.mark_price, row.index_price, to_ms(row.next_funding_time))
        assert key in funding_sent and row.time.microsecond == 0
    for row in interest:
        assert (row.open_interest, row.day_base_volume, row.day_notional_volume) in interest_sent
        assert row.notional_value / row.open_interest in marks


def test_bybit_perps_and_spot_are_collected_exactly_through_drop_silence_and_a_killed_worker(
    client, world, simulator, processes
):
    processes.worker("w1")
    processes.worker("w2")
    processes.beat()
    try:
        wait_for(lambda: closed_count(world.perp_1m) >= 3 and closed_count(world.spot_1m) >= 3, 60, "closed candles")
    except AssertionError:
        raise AssertionError(f"no closed candles; streams {stream_statuses()}\n{processes.logs()}") from None

    pushed = closed_candle_over_ws(world.spot_1m.id)
    assert (pushed["exchange"], pushed["market_type"], pushed["starlisting_id"]) == ("bybit", "spot", world.spot_1m.id)
    data = pushed["data"]
    opened = to_ms_text(data["time"])
    (truth,) = simulated.truth_klines(SEED, "spot", "BTCUSDT", "1m", opened, opened + 1)
    assert (Decimal(data["open"]), Decimal(data["close"]), Decimal(data["volume"])) == (truth[1], truth[4], truth[5])

    reconnects = status(LINEAR_STREAM)["reconnects"]
    control(simulator, "/control/drop", {})
    wait_for(lambda: status(LINEAR_STREAM).get("reconnects", 0) > reconnects, 15, "a reconnect after the drop")
    reconnects = status(LINEAR_STREAM)["reconnects"]
    control(simulator, "/control/silence", {"seconds": 3})
    wait_for(lambda: status(LINEAR_STREAM).get("reconnects", 0) > reconnects, 15, "a reconnect after silence")

    killed = int(holder(LINEAR_STREAM).split(":")[1])
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: (h := holder(LINEAR_STREAM)) and int(h.split(":")[1]) != killed, 30, "a new holder")
    before = closed_count(world.perp_1m)
    wait_for(lambda: closed_count(world.perp_1m) >= before + 3, 30, "candles after the kill")
    wait_for(lambda: only_the_latest_is_open(world.perp_1m), 15, "the missed candles read back")
    wait_for(lambda: only_the_latest_is_open(world.spot_1m), 15, "the missed spot candles read back")
    assert status(LINEAR_STREAM)["malformed"] == 0 and status(SPOT_STREAM)["malformed"] == 0
    processes.stop_all()

    assert_series_exact(client, "/candles/bybit/BTC/USDT/perps/1m", simulated.LINEAR)
    assert_series_exact(client, "/candles/bybit/BTC/USDT/spot/1m", simulated.SPOT)
    assert_context_rows_are_what_was_sent(simulator, world.btc_perp, "BTCUSDT")
    assert_context_rows_are_what_was_sent(simulator, world.eth_perp, "ETHUSDT")
    assert not FundingRate.objects.filter(trading_pair=world.btc_spot).exists()
    funding = client.get("/funding/bybit/BTC/USDT/perps").json()["data"]
    assert funding and Decimal(funding[0]["funding_rate"]) == (
        FundingRate.objects.filter(trading_pair=world.btc_perp).latest("time").funding_rate
    )
    interest = client.get("/open-interest/bybit/ETH/USDT/perps").json()
    assert interest["metadata"]["count"] > 0
    stored = {row.open_interest for row in OpenInterest.objects.filter(trading_pair=world.eth_perp)}
    assert {Decimal(item["open_interest"]) for item in interest["data"]} <= stored
