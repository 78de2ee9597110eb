"""Results files of ``bench/run.py``: one JSON document per run, and the table printed from it.

A document is ``{"started", "finished", "smoke", "commit", "machine", "runs", "figures"}``:
``runs`` says per bench entry how it was called, how long it took and
whether it finished; ``figures`` are the records of ``bench/figures.py``,
each with the ``run`` that produced it.
"""

import json
from pathlib import Path

from bench.figures import target_text

DIRECTORY = Path(__file__).resolve().parent / "results"


def load(path):
    return json.loads(Path(path).read_text())


def save(document, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


def number(value, unit=""):
    """A figure for people: thousands separated, about three significant digits."""
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def verdict(record):
    if record.get("met") is None:
        return ""
    return "met" if record["met"] else "MISSED"


def rows(figures):
    """Table rows (strings) of ``figures``: run, figure, value, baseline, ratio, target, verdict."""
    table = []
    for record in figures:
        baseline = ""
        if record.get("baseline") is not None:
            baseline = f"{record.get('baseline_name') or 'baseline'}: {number(record['baseline'], record['unit'])}"
        ratio = "" if record.get("ratio") is None else f"{record['ratio']:.2f}"
        table.append(
            [
                record.get("run", record["bench"]),
                record["figure"],
                number(record["value"], record["unit"]),
                baseline,
                ratio,
                target_text(record),
                verdict(record),
            ]
        )
    return table


HEADER = ["run", "figure", "value", "baseline (same run)", "ratio", "target", ""]


def text_table(figures):
    """The figures as a fixed-width text table."""
    body = rows(figures)
    widths = [max(len(row[column]) for row in [HEADER, *body]) for column in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [HEADER, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(figures):
    lines = ["| " + " | ".join(HEADER[:-1]) + " | |", "|" + "---|" * len(HEADER)]
    for row in rows(figures):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)
