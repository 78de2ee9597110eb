"""Simulator -> collector task in a real Celery worker -> PostgreSQL -> REST API, over real sockets."""

import os
import signal
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.lease import holder
from apps.collectors.simulator.intervals import HOUR, MINUTE
from apps.collectors.simulator.market import Market
from apps.collectors.stream_documents import stream_statuses
from apps.marketdata.models import Candle, FundingRate, OpenInterest
from tests.collectors.harness import SEED, as_wire, control, processes_running, simulator_running, truth_wire
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BTC_1M = "/candles/hyperliquid/BTC/USD/perps/1m"


def ten_minutes_before_an_hour_ends():
    """A virtual start (never behind real time) whose hour closes a few seconds into a test at speed 60."""
    now = int(time.time() * 1000)
    return ((now + 10 * MINUTE) // HOUR + 1) * HOUR - 10 * MINUTE


@pytest.fixture
def simulator(request):
    """The simulator; a test parametrized indirectly with a function gets the virtual start it returns."""
    start = getattr(request, "param", None)
    with simulator_running(**({"start_ms": start()} if start else {})) as handle:
        yield handle


@pytest.fixture
def processes(simulator, tmp_path):
    with processes_running(simulator, tmp_path) as running:
        yield running


def ms(text):
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def closed_count(starlisting):
    return Candle.objects.filter(starlisting=starlisting, closed=True).count()


def only_the_latest_is_open(starlisting):
    flags = list(Candle.objects.filter(starlisting=starlisting).order_by("time").values_list("closed", flat=True))
    return all(flags[:-1])


def series(client, url):
    items = client.get(url, {"limit": 5000}).json()["data"]
    times = [item["time"] for item in items]
    assert len(times) == len(set(times)), "duplicate candles"
    open_items = [item for item in items if not item["closed"]]
    assert len(open_items) <= 1 and (not open_items or open_items[0] is items[-1]), (
        f"open candles before closed ones: {[i['time'] for i in open_items]}, last {items[-1]['time']}; "
        f"{[(i['time'][11:16], i['closed']) for i in items]}"
    )
    return [item for item in items if item["closed"]], open_items


def assert_closed_candles_exact(closed, coin, interval, contiguous=True):
    assert closed, f"no closed {coin} {interval} candles"
    market = Market(SEED)
    stored = [(ms(item["time"]), as_wire(item)) for item in closed]
    if contiguous:
        truth = market.candles(coin, interval, stored[0][0], stored[-1][0] + 1)
        assert stored == [(c.open_time, truth_wire(c)) for c in truth]
    else:
        for open_ms, values in stored:
            assert values == truth_wire(market.candle(coin, interval, open_ms)), f"{coin} {interval} @ {open_ms}"


def number(*values):
    return tuple(None if value is None else Decimal(value) for value in values)


def assert_context_rows_match_what_was_sent(simulator, trading_pair, coin):
    sent = [entry["ctx"] for entry in control(simulator, f"/control/ctx-log?coin={coin}")]
    funding_sent = {number(c["funding"], c["premium"], c["markPx"], c["oraclePx"], c["midPx"]) for c in sent}
    oi_sent = {number(c["openInterest"], c["dayBaseVlm"], c["dayNtlVlm"]) for c in sent}
    funding = list(FundingRate.objects.filter(trading_pair=trading_pair).order_by("time"))
    interest = {row.time: row for row in OpenInterest.objects.filter(trading_pair=trading_pair)}
    assert funding and len(interest) == len(funding)

    for row in funding:
        assert (row.funding_rate, row.premium, row.mark_price, row.oracle_price, row.mid_price) in funding_sent
        assert row.time.microsecond == 0 and row.next_funding_time.minute == 0
        oi = interest[row.time]
        assert (oi.open_interest, oi.day_base_volume, oi.day_notional_volume) in oi_sent
        assert oi.notional_value == oi.open_interest * row.mark_price


@pytest.mark.parametrize("simulator", [ten_minutes_before_an_hour_ends], indirect=True)
def test_collected_candles_funding_and_open_interest_equal_what_the_exchange_published(
    client, world_committed, simulator, processes
):
    world = world_committed
    processes.worker()
    processes.beat()

    wait_for(lambda: closed_count(world.btc_1m) >= 5 and closed_count(world.sol_1m) >= 5, 40, "closed candles")
    # Ten virtual minutes are ten real seconds; a slow start that misses the hour waits for the next (60 s).
    wait_for(lambda: closed_count(world.btc_1h) >= 1, 90, "the simulated hour to close")
    health = client.get("/health").json()["collectors"]["hyperliquid/0"]
    assert health["connected"] is True and health["messages"] > 0 and health["subscriptions"] == 5
    processes.stop_all()

    btc_closed, btc_open = series(client, BTC_1M)
    assert_closed_candles_exact(btc_closed, "BTC", "1m")
    assert len(btc_open) == 1
    sol_closed, _ = series(client, "/candles/hyperliquid/SOL/USD/perps/1m")
    assert_closed_candles_exact(sol_closed, "SOL", "1m")
    hourly_closed, hourly_open = series(client, "/candles/hyperliquid/BTC/USD/perps/1h")
    assert len(hourly_open) == 1
    assert_closed_candles_exact(hourly_closed, "BTC", "1h", contiguous=False)
    assert_context_rows_match_what_was_sent(simulator, world.btc_pair, "BTC")
    assert_context_rows_match_what_was_sent(simulator, world.sol_pair, "SOL")
    funding = client.get("/funding/hyperliquid/BTC/USD/perps").json()["data"]
    assert funding and Decimal(funding[0]["funding_rate"]) == FundingRate.objects.filter(
        trading_pair=world.btc_pair).latest("time").funding_rate  # fmt: skip
    assert client.get("/open-interest/hyperliquid/SOL/USD/perps").json()["metadata"]["count"] > 0


def test_the_stream_survives_drops_silence_and_malformed_frames(client, world_committed, simulator, processes):
    world = world_committed
    processes.worker()
    processes.beat()
    wait_for(lambda: closed_count(world.btc_1m) >= 2, 40, "first candles")

    def status():
        return stream_statuses().get("hyperliquid/0", {})

    control(simulator, "/control/malformed", {"count": 6})
    wait_for(lambda: status().get("malformed", 0) >= 6, 10, "malformed frames counted")
    reconnects = status()["reconnects"]
    control(simulator, "/control/drop", {})
    wait_for(lambda: status().get("reconnects", 0) > reconnects and status().get("connected"), 15, "reconnect")
    reconnects = status()["reconnects"]
    control(simulator, "/control/silence", {"seconds": 4})
    wait_for(
        lambda: status().get("reconnects", 0) > reconnects and "quiet" in (status().get("last_error") or ""),
        15,
        "a reconnect for quiet",
    )
    assert status()["reconnects"] >= 2
    before = closed_count(world.btc_1m)
    wait_for(lambda: closed_count(world.btc_1m) >= before + 3, 30, "candles after the faults")
    wait_for(lambda: only_the_latest_is_open(world.btc_1m), 15, "the missed candles read back")
    processes.stop_all()

    # Candles missed while disconnected were read back from the REST history on reconnect.
    closed, _ = series(client, BTC_1M)
    assert_closed_candles_exact(closed, "BTC", "1m")


def test_a_killed_worker_is_replaced_within_30_seconds(client, world_committed, simulator, processes):
    world = world_committed
    processes.worker("w1")
    processes.worker("w2")
    processes.beat()
    wait_for(lambda: holder("hyperliquid/0"), 30, "a stream lease")
    wait_for(lambda: closed_count(world.btc_1m) >= 2, 40, "first candles")
    killed = int(holder("hyperliquid/0").split(":")[1])

    os.kill(killed, signal.SIGKILL)
    killed_at = time.monotonic()
    latest = Candle.objects.filter(starlisting=world.btc_1m).latest("time").time

    wait_for(lambda: (h := holder("hyperliquid/0")) and int(h.split(":")[1]) != killed, 30, "a new lease holder")
    wait_for(lambda: Candle.objects.filter(starlisting=world.btc_1m, time__gt=latest).exists(), 30, "new candles")
    assert time.monotonic() - killed_at < 30
    wait_for(lambda: only_the_latest_is_open(world.btc_1m), 15, "the missed candles read back")
    processes.stop_all()

    closed, _ = series(client, BTC_1M)
    assert_closed_candles_exact(closed, "BTC", "1m")


def test_a_stream_at_the_end_of_its_lifetime_hands_over_to_a_fresh_one_without_a_gap(
    client, world_committed, simulator, processes
):
    world = world_committed
    processes.env["KIRBY_COLLECTOR_STREAM_LIFETIME_SECONDS"] = "4"
    processes.worker()
    processes.beat()
    first = wait_for(lambda: holder("hyperliquid/0"), 30, "a stream lease")
    wait_for(lambda: closed_count(world.btc_1m) >= 2, 40, "first candles")

    wait_for(lambda: (h := holder("hyperliquid/0")) and h != first, 30, "the stream's successor")
    latest = Candle.objects.filter(starlisting=world.btc_1m).latest("time").time
    wait_for(lambda: Candle.objects.filter(starlisting=world.btc_1m, time__gt=latest).exists(), 30, "new candles")
    wait_for(lambda: only_the_latest_is_open(world.btc_1m), 15, "the hand-over's candles read back")
    processes.stop_all()

    logs = "".join(Path(process.log_path).read_text() for process in processes.processes)
    assert "hyperliquid/0 reached the end of its lifetime" in logs
    closed, _ = series(client, BTC_1M)
    assert_closed_candles_exact(closed, "BTC", "1m")


def test_starlisting_changes_reach_the_running_stream_without_a_restart(world_committed, simulator, processes):
    world = world_committed
    processes.worker()
    processes.beat()
    wait_for(lambda: closed_count(world.btc_1m) >= 1, 40, "first candles")

    sol_5m = world.starlisting(world.sol_pair, "5m")
    world.btc_1m.active = False
    world.btc_1m.save()

    wait_for(lambda: Candle.objects.filter(starlisting=sol_5m).exists(), 15, "candles of the new starlisting")
    wait_for(lambda: not subscribed_to(simulator, "BTC", "1m"), 15, "the stream to unsubscribe from BTC 1m")
    # Frames sent after the unsubscription arrive (and are stored) after any BTC 1m frame sent before it.
    wait_for_a_later_sol_minute(simulator, world)
    settled = Candle.objects.filter(starlisting=world.btc_1m).count()
    wait_for_a_later_sol_minute(simulator, world)
    assert Candle.objects.filter(starlisting=world.btc_1m).count() == settled


def subscribed_to(simulator, coin, interval):
    subscriptions = control(simulator, "/control/stats")["subscriptions"]
    return any(
        s.get("type") == "candle" and (s.get("coin"), s.get("interval")) == (coin, interval) for s in subscriptions
    )


def wait_for_a_later_sol_minute(simulator, world):
    """Wait until a SOL 1m candle that opened after the simulator's present is stored."""
    after = datetime.fromtimestamp(control(simulator, "/control/stats")["virtual_now_ms"] / 1000, UTC)
    wait_for(lambda: Candle.objects.filter(starlisting=world.sol_1m, time__gt=after).exists(), 15, "a later SOL candle")


def test_a_graceful_shutdown_stores_what_was_buffered(world_committed, simulator, processes):
    world = world_committed
    processes.env["KIRBY_COLLECTOR_FLUSH_SECONDS"] = "600"
    worker = processes.worker()
    processes.beat()
    wait_for(lambda: stream_statuses().get("hyperliquid/0", {}).get("messages", 0) > 250, 40, "messages received")
    before = Candle.objects.count(), FundingRate.objects.count()

    processes.stop(worker)

    assert Candle.objects.count() > before[0] and FundingRate.objects.count() > before[1]
    assert closed_count(world.btc_1m) >= 1
    assert FundingRate.objects.filter(trading_pair=world.btc_pair).exists()
    assert stream_statuses()["hyperliquid/0"]["running"] is False
