"""Waiting for a condition with a deadline, instead of sleeping for a fixed time and hoping."""

import time


def wait_until(predicate, timeout, interval=0.05, message=None):
    """Poll ``predicate`` until it returns something true; return that, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"not true within {timeout} s: {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)
