"""Waiting for a condition with a deadline, instead of sleeping for a fixed time and hoping."""

import time


def wait_for(condition, timeout, message, interval=0.2):
    """Poll ``condition`` until it returns something true and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
