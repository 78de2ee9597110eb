"""OKX trades missed during a long outage are read back exactly from REST history-trades, end to end.

The simulator runs an hour of virtual time per real second, so a few seconds without a connection are
far more trades than OKX's recent 500 (``/api/v5/market/trades``, what Kirby read after every connect
before). The stream runs in a thread of the test with the real batcher: it is dropped and then hears
nothing while the simulator is silent. After it reconnects, the window between the last trade before
and the first one after is read back page by page (``history-trades``, paged by trade id) through the
one write path: the stored tape must equal the simulator's, nothing missing, nothing twice, the swap's
contracts stored as coins; the recent trades were read once, after the first connect only.
"""

import pytest

from tests.collectors.harness import control, more_trades, okx_pairs, okx_tape, simulator_running, streams_running
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
HISTORY, RECENT = "/api/v5/market/history-trades", "/api/v5/market/trades"
SPEED = 3600  # a virtual hour per real second: about 200 trades a second per instrument
SILENT_SECONDS = 4
OLD_RECENT_LIMIT = 500


@pytest.fixture
def pairs(transactional_db, django_db_serialized_rollback):
    return okx_pairs()


def requests(simulator, path, inst_id=None):
    return [r for r in control(simulator, "/control/okx/requests")
            if r["path"] == path and inst_id in (None, r["query"].get("instId"))]  # fmt: skip


def test_trades_pushed_while_disconnected_beyond_the_recent_500_are_read_back_exactly(pairs, settings):
    with simulator_running(speed=SPEED) as simulator:
        settings.KIRBY_OKX_WS_URL = f"ws://{simulator.host}:{simulator.port}/ws/v5/public"
        settings.KIRBY_OKX_REST_URL = simulator.url
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        with streams_running("okx") as (stream,):
            # The first connect reads both instruments' recent trades: nothing before it to read a window from.
            wait_for(lambda: len(requests(simulator, RECENT)) == 2, 15, "the recent trades read after connecting")
            more_trades(50, "trades pushed on the first connection")
            silenced_at = control(simulator, "/control/stats")["virtual_now_ms"]
            control(simulator, "/control/silence", {"seconds": SILENT_SECONDS})
            control(simulator, "/control/drop", {})
            wait_for(lambda: stream.status.doc["reconnects"] >= 1, 15, "the stream reconnected")
            for inst_id in pairs:  # the first trades after the silence start each instrument's read back
                wait_for(lambda i=inst_id: requests(simulator, HISTORY, i), 15, f"{inst_id} read back")
            wait_for(lambda: not stream._trade_reads, 30, "every read back finished")
            more_trades(50, "trades pushed after the read back")
        tapes = {}
        for inst_id, pair in pairs.items():
            stored, expected = okx_tape(simulator, inst_id, pair)
            (window,) = [r["query"] for r in requests(simulator, HISTORY, inst_id) if r["query"]["type"] == "2"]
            missed = control(simulator, f"/truth/trades?exchange=okx&coin={inst_id}&start={silenced_at}"
                                        f"&end={window['after']}")  # fmt: skip
            tapes[inst_id] = stored, expected, len(missed), requests(simulator, HISTORY, inst_id)
        recent_reads = requests(simulator, RECENT)

    for inst_id, (stored, expected, missed, pages) in tapes.items():
        # More trades than the recent 500 went by unheard (from the silence to the first trade after it) ...
        assert missed > OLD_RECENT_LIMIT + 20, (inst_id, missed)
        # ... and every trade of the whole span is stored once, sizes in the coin.
        assert stored == expected, inst_id
        assert len(pages) >= missed // 100 and all(p["status"] == 200 for p in pages), inst_id
        assert all(p["query"]["type"] == "1" for p in pages[1:]), inst_id  # after the first page: by trade id
    assert len(recent_reads) == 2  # the reconnect read its windows, not the recent trades
