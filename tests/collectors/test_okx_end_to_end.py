"""OKX swaps and spot, end to end over real sockets and processes.

Simulator (public and business WebSockets, REST history) -> stream tasks in real Celery workers ->
PostgreSQL -> REST, through a dropped connection, silence and a SIGKILLed worker with a second one
available. Candles come from the business endpoint, funding, open interest and mark prices from the
public one: two streams, ``okx/0`` (business) and ``okx/1`` (public).
"""

import os
import signal
from datetime import datetime
from decimal import Decimal

import pytest

from apps.collectors.lease import holder
from apps.collectors.simulator import okx as simulated
from apps.collectors.stream_documents import stream_statuses
from apps.marketdata.models import Candle, FundingRate, OpenInterest
from lib.timeutil import to_ms
from tests.collectors.harness import SEED, BinanceWorld, control, processes_running, simulator_running
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BUSINESS_STREAM, PUBLIC_STREAM = "okx/0", "okx/1"  # endpoints sort: business before public


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback):
    return BinanceWorld("okx", "OKX")  # the same BTC/ETH swaps and BTC spot, 1m starlistings for BTC


@pytest.fixture
def simulator():
    with simulator_running() as handle:
        yield handle


@pytest.fixture
def processes(simulator, tmp_path):
    with processes_running(simulator, tmp_path) as running:
        yield running


def closed_count(starlisting):
    return Candle.objects.filter(starlisting=starlisting, closed=True).count()


def only_the_latest_is_open(starlisting):
    flags = list(Candle.objects.filter(starlisting=starlisting).order_by("time").values_list("closed", flat=True))
    return all(flags[:-1])


def reconnects(name):
    return stream_statuses().get(name, {}).get("reconnects", 0)


def assert_series_exact(client, path, inst_id):
    items = client.get(path, {"limit": 5000}).json()["data"]
    times = [to_ms(datetime.fromisoformat(item["time"])) for item in items]
    assert len(times) == len(set(times)), "duplicate candles"
    assert all(item["closed"] for item in items[:-1]), "an open candle before a closed one"
    closed = [(t, item) for t, item in zip(times, items) if item["closed"]]
    assert len(closed) >= 8
    stored = [(t, *(Decimal(i[k]) for k in ("open", "high", "low", "close", "volume"))) for t, i in closed]
    # Contiguous: nothing missing, nothing added, every digit; a swap's volume in the coin, not in contracts.
    assert stored == simulated.truth_candles(SEED, inst_id, "1m", stored[0][0], stored[-1][0] + 1)


def assert_context_rows_are_what_was_sent(simulator, pair, inst_id):
    def sent(prefix):
        return [e["ctx"] for e in control(simulator, f"/control/ctx-log?coin={prefix}:{inst_id}")]

    funding_sent = {(Decimal(c["fundingRate"]), int(c["fundingTime"])) for c in sent("okx")}
    interest_sent = {Decimal(c["oiCcy"]) for c in sent("okx-oi")}
    marks = {Decimal(c["markPx"]) for c in sent("okx-mark")}
    funding = list(FundingRate.objects.filter(trading_pair=pair))
    interest = list(OpenInterest.objects.filter(trading_pair=pair))
    assert len(funding) >= 3 and len(interest) >= 3
    for row in funding:
        assert (row.funding_rate, to_ms(row.next_funding_time)) in funding_sent
    for row in interest:
        assert row.open_interest in interest_sent
        assert row.notional_value is not None and row.notional_value / row.open_interest in marks


def test_okx_swaps_and_spot_are_collected_exactly_through_drop_silence_and_a_killed_worker(
    client, world, simulator, processes
):
    processes.worker("w1")
    processes.worker("w2")
    processes.beat()
    try:
        wait_for(lambda: closed_count(world.perp_1m) >= 3 and closed_count(world.spot_1m) >= 3, 60, "closed candles")
    except AssertionError:
        raise AssertionError(f"no closed candles; streams {stream_statuses()}\n{processes.logs()}") from None

    before = reconnects(BUSINESS_STREAM), reconnects(PUBLIC_STREAM)
    control(simulator, "/control/drop", {})
    wait_for(lambda: reconnects(BUSINESS_STREAM) > before[0] and reconnects(PUBLIC_STREAM) > before[1], 15,
             "both streams reconnected after the drop")  # fmt: skip
    before = reconnects(BUSINESS_STREAM)
    control(simulator, "/control/silence", {"seconds": 3})
    wait_for(lambda: reconnects(BUSINESS_STREAM) > before, 15, "a reconnect after silence")

    killed = int(holder(BUSINESS_STREAM).split(":")[1])
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: (h := holder(BUSINESS_STREAM)) and int(h.split(":")[1]) != killed, 30, "a new holder")
    before = closed_count(world.perp_1m)
    wait_for(lambda: closed_count(world.perp_1m) >= before + 3, 30, "candles after the kill")
    wait_for(lambda: only_the_latest_is_open(world.perp_1m), 15, "the missed candles read back")
    wait_for(lambda: only_the_latest_is_open(world.spot_1m), 15, "the missed spot candles read back")
    processes.stop_all()

    assert_series_exact(client, "/candles/okx/BTC/USDT/perps/1m", "BTC-USDT-SWAP")
    assert_series_exact(client, "/candles/okx/BTC/USDT/spot/1m", "BTC-USDT")
    assert_context_rows_are_what_was_sent(simulator, world.btc_perp, "BTC-USDT-SWAP")
    assert_context_rows_are_what_was_sent(simulator, world.eth_perp, "ETH-USDT-SWAP")
    assert not FundingRate.objects.filter(trading_pair=world.btc_spot).exists()
    funding = client.get("/funding/okx/BTC/USDT/perps").json()["data"]
    assert funding and Decimal(funding[0]["funding_rate"]) == (
        FundingRate.objects.filter(trading_pair=world.btc_perp).latest("time").funding_rate
    )
    assert client.get("/open-interest/okx/ETH/USDT/perps").json()["metadata"]["count"] > 0
