"""The garbage collector tuned for a collector process, whose work is a flood of short-lived objects.

Every trade makes a few container objects (parsed frame, event, record, buffer key); the cyclic collector
runs every 700 allocations by default and walks every long-lived object (Django, the adapters, the
batcher's buffer) each time one of its older generations is due: about half the cost of turning an event
into a record in a trade flood. The records hold no cycles (reference counting frees them), so the
collector can run less often: after start-up its objects are collected once and frozen (never walked
again), and the youngest generation is collected every GEN0_THRESHOLD allocations instead.
"""

import gc
import threading

GEN0_THRESHOLD = 10_000
_tuned = threading.Lock()  # held for good once tuned: streams are threads of one worker process


def tune_for_streaming():
    """Once per process (the collection pauses every stream of the process, so not on each stream's start)."""
    if not _tuned.acquire(blocking=False):
        return
    gc.collect()
    gc.freeze()
    youngest, older, oldest = gc.get_threshold()
    gc.set_threshold(max(GEN0_THRESHOLD, youngest), older, oldest)
