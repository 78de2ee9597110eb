"""Metrics counted where things happen: the write path and the WebSocket outlet, with exact values."""

import asyncio
from datetime import timedelta

import pytest

from apps.marketdata.writer import write_candles
from apps.streaming.outlet import Outlet
from lib.metrics import FLUSH_DURATION, RECORDS_WRITTEN, ROWS_REJECTED, WS_DROPPED, WS_SENT
from tests.conftest import candle, utc
from tests.operations.scrape import value

T0 = utc(2026, 11, 20)


def current(metric, *labels, suffix=""):
    """The metric child's value now (a counter's ``_total``, a histogram's ``_count``)."""
    family = metric.collect()[0]
    name = family.name + suffix
    wanted = dict(zip(metric._labelnames, labels, strict=True))
    return value({(s.name, frozenset(s.labels.items())): s.value for s in family.samples}, name, **wanted) or 0


@pytest.mark.django_db
def test_the_write_path_counts_rows_written_and_rejected_per_batch_and_times_it(world):
    good = [candle(world.btc_1m, T0 + timedelta(minutes=n)) for n in range(4)]
    bad = candle(world.btc_1m, T0 + timedelta(minutes=9), high="80", low="90")  # high below low
    before = (
        current(RECORDS_WRITTEN, "testex", "candles", suffix="_total"),
        current(ROWS_REJECTED, "testex", "candles", suffix="_total"),
        current(FLUSH_DURATION, "candles", suffix="_count"),
    )

    result = write_candles([*good, bad], exchange="testex")
    write_candles(good, exchange="testex")  # unchanged rows are not written again

    after = (
        current(RECORDS_WRITTEN, "testex", "candles", suffix="_total"),
        current(ROWS_REJECTED, "testex", "candles", suffix="_total"),
        current(FLUSH_DURATION, "candles", suffix="_count"),
    )
    assert (result.inserted, result.rejected) == (4, 1)
    assert [a - b for a, b in zip(after, before, strict=True)] == [4, 1, 2]


@pytest.mark.asyncio
async def test_the_outlet_counts_frames_sent_and_frames_dropped_for_a_client_too_slow():
    reading = asyncio.Event()
    sent = []

    async def send(message):
        await reading.wait()
        sent.append(message)

    sent_before, dropped_before = current(WS_SENT, suffix="_total"), current(WS_DROPPED, suffix="_total")
    outlet = Outlet(send, limit=3, on_overflow=lambda: None)
    for n in range(6):  # one in the writer's hands, three queued, the fifth overflows, the sixth finds it closed
        outlet.put(str(n))
        await asyncio.sleep(0)
    reading.set()
    await outlet.stop()

    assert current(WS_DROPPED, suffix="_total") - dropped_before == 4 + 1
    assert current(WS_SENT, suffix="_total") - sent_before == len([m for m in sent if m["type"] == "websocket.send"])
