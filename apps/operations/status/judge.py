"""States of the status document: green (fine), amber (look soon), red (act now), each with a reason in words."""

from datetime import UTC, datetime

GREEN, AMBER, RED = "green", "amber", "red"
_RANK = {GREEN: 0, AMBER: 1, RED: 2}


def worst(states):
    return max(states, key=_RANK.__getitem__, default=GREEN)


def verdict(state, reason=""):
    return {"state": state, "reason": reason}


def when(timestamp):
    """ISO-8601 UTC of a Unix time in seconds (None stays None), to the second."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds):
    """'45 s', '12 min', '3.5 h', '2.0 d': a duration as a person reads it."""
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
