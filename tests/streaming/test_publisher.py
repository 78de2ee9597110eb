"""The process's publisher: the writer hands over a batch of sends and goes on; batches leave in order."""

import asyncio
import threading
import time

from apps.streaming import publisher


def test_a_slow_send_does_not_hold_the_writer_and_batches_leave_in_order():
    sent, release = [], threading.Event()

    def batch(number, slow=False):
        async def send():
            if slow:
                await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
            sent.append(number)

        return send

    started = time.monotonic()
    publisher.submit(batch(1, slow=True))
    publisher.submit(batch(2))
    publisher.submit(batch(3))
    handed_over = time.monotonic() - started

    assert handed_over < 1.0 and sent == []  # the writer went on while Redis (here: batch 1) was slow
    assert not publisher.wait_sent(0.2)
    release.set()
    assert publisher.wait_sent(10)
    assert sent == [1, 2, 3]  # a later batch never overtakes an earlier one


def test_a_batch_that_fails_is_logged_and_the_next_one_still_goes(caplog):
    sent = []

    async def failing():
        raise ConnectionError("redis is away")

    async def fine():
        sent.append("next")

    publisher.submit(lambda: failing())
    publisher.submit(lambda: fine())

    assert publisher.wait_sent(10)
    assert sent == ["next"]
    assert "could not send a batch of stream messages" in caplog.text
