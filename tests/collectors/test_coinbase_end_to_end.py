"""Coinbase spot end to end: candles Kirby builds from market_trades, checked against REST, through faults.

Simulator -> stream task in real Celery workers -> PostgreSQL -> REST. The
simulator's WebSocket sends its trade tape and its REST candles are that
tape's aggregation, except every fifth minute, whose REST volume is skewed
on purpose: there the venue's record must win. Faults: a sequence_num gap
(messages lost), a dropped connection, silence, and a SIGKILLed worker with
a second one available. Afterwards every closed minute stored equals the
REST candle, the series has no gap and no duplicate, and the worker's
metrics say how the built candles compared.
"""

import os
import signal
from decimal import Decimal

import pytest

from apps.collectors.lease import holder
from apps.collectors.simulator import coinbase as simulated
from apps.collectors.stream_documents import stream_statuses
from apps.marketdata.models import Candle, FundingRate
from lib.timeutil import to_ms
from tests.collectors.harness import SEED, CoinbaseWorld, control, processes_running, simulator_running
from tests.operations.scrape import scrape, value
from tests.streaming.servers import server_port
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

STREAM = "coinbase/0"
SKEW_EVERY = 5


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback):
    return CoinbaseWorld()


@pytest.fixture
def simulator():
    with simulator_running(coins=("BTC",)) as handle:
        control(handle, "/control/coinbase/rest-skew", {"every": SKEW_EVERY})
        yield handle


def closed_count(starlisting):
    return Candle.objects.filter(starlisting=starlisting, closed=True).count()


def only_the_latest_is_open(starlisting):
    flags = list(Candle.objects.filter(starlisting=starlisting).order_by("time").values_list("closed", flat=True))
    return all(flags[:-1])


def status():
    return stream_statuses().get(STREAM, {})


def rest_truth(start_ms, end_ms):
    """The simulator's REST candles (skewed minutes included) in [start, end): what Kirby must store."""
    rows = []
    for t, o, h, low, c, v in simulated.truth_candles(SEED, "BTC-USD", "1m", start_ms, end_ms):
        rows.append((t, o, h, low, c, v + simulated.SKEW if simulated.skewed(SKEW_EVERY, t, "1m") else v))
    return rows


def test_coinbase_candles_built_from_trades_are_stored_as_coinbase_publishes_them_through_faults(
    client, world, simulator, tmp_path
):
    first = server_port()
    ports = {"w1": first, "w2": server_port(first)}
    with processes_running(simulator, tmp_path) as processes:
        for name, port in ports.items():
            processes.env["KIRBY_METRICS_PORT"] = str(port)
            processes.worker(name)
        del processes.env["KIRBY_METRICS_PORT"]
        processes.beat()
        try:
            wait_for(lambda: closed_count(world.btc_1m) >= 3, 60, "closed candles")
        except AssertionError:
            raise AssertionError(f"no closed candles; streams {stream_statuses()}\n{processes.logs()}") from None

        for fault, body in (("/control/coinbase/sequence-gap", {"count": 2}), ("/control/drop", {}),
                            ("/control/silence", {"seconds": 3})):  # fmt: skip
            reconnects = status().get("reconnects", 0)
            control(simulator, fault, body)
            wait_for(lambda n=reconnects: status().get("reconnects", 0) > n, 15, f"a reconnect after {fault}")

        killed = int(holder(STREAM).split(":")[1])
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: (h := holder(STREAM)) and int(h.split(":")[1]) != killed, 30, "a new holder")
        before = closed_count(world.btc_1m)
        wait_for(lambda: closed_count(world.btc_1m) >= before + 3, 30, "candles after the kill")
        wait_for(lambda: only_the_latest_is_open(world.btc_1m), 15, "the missed candles read back")
        survivor = next(
            name for name, process in zip(ports, processes.processes, strict=False) if process.pid != killed
        )
        url = f"http://127.0.0.1:{ports[survivor]}/metrics"
        # The worker that took over has built, checked and counted candles of its own, skewed minutes included.
        counted = wait_for(lambda: (c := built_counts(scrape(url)))["equal"] and c["differed"] and c, 20, "checks")

    items = client.get("/candles/coinbase/BTC/USD/spot/1m", {"limit": 5000}).json()["data"]
    closed = [item for item in items if item["closed"]]
    stored = [
        (to_ms_text(i["time"]), *(Decimal(i[k]) for k in ("open", "high", "low", "close", "volume"))) for i in closed
    ]
    assert len(stored) >= 8 and len({row[0] for row in stored}) == len(stored)
    # Every minute with trades from the first to the last closed one, each exactly as REST has it.
    assert stored == rest_truth(stored[0][0], stored[-1][0] + 1)
    assert any(simulated.skewed(SKEW_EVERY, row[0], "1m") for row in stored)

    assert counted["unconfirmed"] == 0, counted
    assert client.get("/funding/coinbase/BTC/USD/spot").json()["data"] == []
    assert not FundingRate.objects.exists()


def built_counts(samples):
    return {o: value(samples, "kirby_built_candles_total", exchange="coinbase", outcome=o) or 0
            for o in ("equal", "differed", "partial", "unconfirmed")}  # fmt: skip


def to_ms_text(text):
    from datetime import datetime

    return to_ms(datetime.fromisoformat(text))
