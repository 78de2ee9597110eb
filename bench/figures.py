"""The figures a bench reports, one machine-readable line each, for ``bench/run.py`` to collect.

A bench prints its human-readable report as before and then calls
``figure(...)`` once per headline figure. Each call prints one line
``BENCH-FIGURE {json}`` on stdout: the runner reads those lines, so the
table at the end of ``make bench``, the results JSON and the README's table
all come from what the bench measured, never from typed numbers.

A figure holds its value, the baseline measured in the same run (or None
for an absolute figure such as a latency), the ratio value / baseline and
its target: either on the ratio (``ratio >= 0.5``) or on the value itself
(``value < 500`` ms).
"""

import json
import math

MARK = "BENCH-FIGURE "
OPERATORS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def figure(bench, name, value, unit, *, baseline=None, baseline_name=None, target=None, on="ratio", note=None):
    """Print one figure for the runner; ``target`` is ``(operator, threshold)`` applied to ``on`` (ratio/value)."""
    if on not in ("ratio", "value"):
        raise ValueError(on)
    ratio = value / baseline if baseline else None
    met = None
    if target is not None:
        operator, threshold = target
        checked = ratio if on == "ratio" else value
        met = checked is not None and OPERATORS[operator](checked, threshold)
    record = {
        "bench": bench,
        "figure": name,
        "value": _number(value),
        "unit": unit,
        "baseline": _number(baseline),
        "baseline_name": baseline_name,
        "ratio": _number(ratio),
        "target": None if target is None else {"on": on, "operator": target[0], "threshold": target[1]},
        "met": met,
        "note": note,
    }
    print(MARK + json.dumps(record), flush=True)
    return record


def _number(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def parse(line):
    """The figure on a line of a bench's output, or None when the line is not one."""
    if not line.startswith(MARK):
        return None
    return json.loads(line[len(MARK) :])


def target_text(record):
    target = record.get("target")
    if not target:
        return ""
    threshold = f"{target['threshold']:,g}"
    if target["on"] == "ratio":
        return f"ratio {target['operator']} {threshold}"
    return f"{target['operator']} {threshold} {record['unit']}"
