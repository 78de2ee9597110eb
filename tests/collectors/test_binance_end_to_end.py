"""Binance USD-M perps and spot, end to end over real sockets and processes.

Simulator -> stream tasks in real Celery workers -> PostgreSQL -> REST, through the faults a
Binance connection meets: the 24-hour connection limit (compressed: the simulator cuts
connections at 8 s, the collector replaces them at 4 s, overlapping), a dropped connection,
silence, and a SIGKILLed worker with a second one available.
"""

import asyncio
import os
import signal
from decimal import Decimal

import pytest

from apps.collectors.lease import holder
from apps.collectors.simulator import binance as simulated
from apps.collectors.stream_documents import stream_statuses
from apps.marketdata.models import Candle, FundingRate, OpenInterest
from lib.timeutil import to_ms
from tests.collectors.harness import SEED, BinanceWorld, control, processes_running, simulator_running
from tests.conftest import make_key
from tests.streaming.conftest import Connection
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SPOT_STREAM, USDM_STREAM = "binance/0", "binance/1"  # endpoints sort: spot before usdm


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback):
    return BinanceWorld()


@pytest.fixture
def simulator():
    with simulator_running(binance_connection_seconds=8, binance_ping_seconds=2) as handle:
        yield handle


@pytest.fixture
def processes(simulator, tmp_path):
    env = {"KIRBY_BINANCE_CONNECTION_SECONDS": "4", "KIRBY_BINANCE_OPEN_INTEREST_POLL_SECONDS": "1"}
    with processes_running(simulator, tmp_path, **env) as running:
        yield running


def closed_count(starlisting):
    return Candle.objects.filter(starlisting=starlisting, closed=True).count()


def only_the_latest_is_open(starlisting):
    flags = list(Candle.objects.filter(starlisting=starlisting).order_by("time").values_list("closed", flat=True))
    return all(flags[:-1])


def status(name):
    return stream_statuses().get(name, {})


def assert_series_exact(client, path, market):
    items = client.get(path, {"limit": 5000}).json()["data"]
    times = [to_ms_text(item["time"]) for item in items]
    assert len(times) == len(set(times)), "duplicate candles"
    assert all(item["closed"] for item in items[:-1]), "an open candle before a closed one"
    closed = [item for item in items if item["closed"]]
    assert len(closed) >= 8
    stored = [
        (to_ms_text(i["time"]), *(Decimal(i[k]) for k in ("open", "high", "low", "close", "volume")), i["num_trades"])
        for i in closed
    ]
    truth = simulated.truth(SEED, market, "BTCUSDT", "1m", stored[0][0], stored[-1][0] + 1)
    assert stored == truth  # contiguous: nothing missing, nothing added, every digit


def to_ms_text(text):
    from datetime import datetime

    return to_ms(datetime.fromisoformat(text))


def assert_context_rows_are_what_was_sent(simulator, pair, symbol):
    sent = [e["ctx"] for e in control(simulator, f"/control/ctx-log?coin=binance:{symbol}")]
    marks = {Decimal(c["p"]) for c in sent}
    funding_sent = {(Decimal(c["r"]), Decimal(c["p"]), Decimal(c["i"]), c["T"]) for c in sent}
    polled = {
        Decimal(e["ctx"]["openInterest"]) for e in control(simulator, f"/control/ctx-log?coin=binance-oi:{symbol}")
    }
    funding = list(FundingRate.objects.filter(trading_pair=pair))
    interest = list(OpenInterest.objects.filter(trading_pair=pair))
    assert len(funding) >= 5 and len(interest) >= 5
    for row in funding:
        key = (row.funding_rate, row.mark_price, row.index_price, to_ms(row.next_funding_time))
        assert key in funding_sent and row.time.microsecond == 0
    for row in interest:
        assert row.open_interest in polled
        assert row.notional_value is not None and row.notional_value / row.open_interest in marks


def closed_candle_over_ws(starlisting_id):
    """A Binance starlisting on /ws (Kirby's ASGI app, fed from the worker through Redis), like any other."""

    key = make_key("ws-reader")

    async def receive():
        connection = await Connection(f"/ws?api_key={key}").open()
        try:
            reply = await connection.request({"action": "subscribe", "starlisting_ids": [starlisting_id]})
            assert reply["type"] == "success", reply
            for _ in range(200):
                message = await connection.receive(timeout=15)
                if message["type"] == "candle" and message["data"]["closed"]:
                    return message
        finally:
            await connection.close()

    return asyncio.run(receive())


def test_binance_perps_and_spot_are_collected_exactly_through_rollover_drop_silence_and_a_killed_worker(
    client, world, simulator, processes
):
    processes.worker("w1")
    processes.worker("w2")
    processes.beat()
    try:
        wait_for(lambda: closed_count(world.perp_1m) >= 3 and closed_count(world.spot_1m) >= 3, 60, "closed candles")
    except AssertionError:
        raise AssertionError(f"no closed candles; streams {stream_statuses()}\n{processes.logs()}") from None

    pushed = closed_candle_over_ws(world.perp_1m.id)
    assert (pushed["exchange"], pushed["market_type"], pushed["starlisting_id"]) == (
        "binance",
        "perps",
        world.perp_1m.id,
    )
    data = pushed["data"]
    truth = simulated.truth(SEED, "usdm", "BTCUSDT", "1m", to_ms_text(data["time"]), to_ms_text(data["time"]) + 1)[0]
    assert (Decimal(data["open"]), Decimal(data["close"]), data["num_trades"]) == (truth[1], truth[4], truth[6])

    # The 24-hour rule: each connection is replaced, overlapping, before the exchange cuts it.
    wait_for(lambda: status(USDM_STREAM).get("rollovers", 0) >= 1, 15, "a connection replaced at its age limit")
    assert control(simulator, "/control/stats")["binance_forced_closes"] == 0
    assert status(USDM_STREAM)["reconnects"] == 0

    reconnects = status(USDM_STREAM)["reconnects"]
    control(simulator, "/control/drop", {})
    wait_for(lambda: status(USDM_STREAM).get("reconnects", 0) > reconnects, 15, "a reconnect after the drop")
    reconnects = status(USDM_STREAM)["reconnects"]
    control(simulator, "/control/silence", {"seconds": 3})
    wait_for(lambda: status(USDM_STREAM).get("reconnects", 0) > reconnects, 15, "a reconnect after silence")

    killed = int(holder(USDM_STREAM).split(":")[1])
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: (h := holder(USDM_STREAM)) and int(h.split(":")[1]) != killed, 30, "a new holder")
    before = closed_count(world.perp_1m)
    wait_for(lambda: closed_count(world.perp_1m) >= before + 3, 30, "candles after the kill")
    wait_for(lambda: only_the_latest_is_open(world.perp_1m), 15, "the missed candles read back")
    wait_for(lambda: only_the_latest_is_open(world.spot_1m), 15, "the missed spot candles read back")
    assert control(simulator, "/control/stats")["binance_rate_closes"] == 0
    processes.stop_all()

    assert_series_exact(client, "/candles/binance/BTC/USDT/perps/1m", simulated.USDM)
    assert_series_exact(client, "/candles/binance/BTC/USDT/spot/1m", simulated.SPOT)
    assert_context_rows_are_what_was_sent(simulator, world.btc_perp, "BTCUSDT")
    assert_context_rows_are_what_was_sent(simulator, world.eth_perp, "ETHUSDT")
    assert not FundingRate.objects.filter(trading_pair=world.btc_spot).exists()
    funding = client.get("/funding/binance/BTC/USDT/perps").json()["data"]
    assert funding and Decimal(funding[0]["funding_rate"]) == (
        FundingRate.objects.filter(trading_pair=world.btc_perp).latest("time").funding_rate
    )
    assert client.get("/open-interest/binance/ETH/USDT/perps").json()["metadata"]["count"] > 0
