"""Two results files side by side: each figure's value and ratio in both, and how the value moved.

    .venv/bin/python bench/compare.py bench/published.json bench/results/<time>.json

Figures are matched by run and name; one present in only one file shows
``n/a`` on the other side. Ratios are against each run's own baseline, so
they compare across machines better than the raw values do.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import results  # noqa: E402


def side_by_side(old, new):
    """Rows: run, figure, old value, new value, new / old, old ratio, new ratio."""

    def keyed(document):
        return {(record.get("run", record["bench"]), record["figure"]): record for record in document["figures"]}

    before, after = keyed(old), keyed(new)
    rows = []
    for key in [*before, *(key for key in after if key not in before)]:
        a, b = before.get(key), after.get(key)
        unit = (a or b)["unit"]
        moved = ""
        if a and b and a["value"] and b["value"] is not None:
            moved = f"{b['value'] / a['value']:.2f}"
        rows.append(
            [
                *key,
                results.number(a["value"], unit) if a else "n/a",
                results.number(b["value"], unit) if b else "n/a",
                moved,
                _ratio(a),
                _ratio(b),
            ]
        )
    return rows


def _ratio(record):
    if not record or record.get("ratio") is None:
        return ""
    return f"{record['ratio']:.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    args = parser.parse_args(argv)
    old, new = results.load(args.old), results.load(args.new)
    header = ["run", "figure", Path(args.old).name, Path(args.new).name, "new/old", "ratio old", "ratio new"]
    rows = side_by_side(old, new)
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
