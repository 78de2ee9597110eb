"""The bench tooling: the runner fails when a bench does not finish, the README table is the published JSON.

The benches themselves run in ``make bench-smoke`` (part of ``make test``);
here the runner meets small stand-in benches (real child processes) that
finish, crash, hang or stop before printing their figures.
"""

import json
import textwrap

import pytest

from bench import compare, readme, results, run
from bench.figures import figure, parse

FINISHES = """
from bench.figures import figure
print("measuring ...")
figure("fake", "speed", 300.0, "rows/s", baseline=400.0, baseline_name="floor", target=(">=", 0.5))
figure("fake", "latency", 12.5, "ms", target=("<", 10), on="value")
"""


def bench_script(tmp_path, name, body):
    script = tmp_path / f"{name}.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(run.BENCH.parent)!r})\n" + textwrap.dedent(body))
    return run.Entry(name, str(script), (), (), 2)


def run_benches(tmp_path, capsys, *entries, timeout=None):
    output = tmp_path / "results.json"
    argv = ["--output", str(output)] + (["--timeout", str(timeout)] if timeout else [])
    code = run.main(argv, entries=entries)
    return code, json.loads(output.read_text()), capsys.readouterr()


def test_a_finished_bench_gives_its_figures_a_table_and_a_results_file(tmp_path, capsys):
    code, document, printed = run_benches(tmp_path, capsys, bench_script(tmp_path, "fine", FINISHES))

    assert code == 0
    assert document["runs"]["fine"]["finished"] is True
    speed, latency = document["figures"]
    assert (speed["run"], speed["value"], speed["ratio"], speed["met"]) == ("fine", 300.0, 0.75, True)
    assert (latency["value"], latency["ratio"], latency["met"]) == (12.5, None, False)
    assert "measuring ..." in printed.out  # the bench's own report passes through
    table = printed.out.split("bench run of", 1)[1]
    assert "300 rows/s" in table and "floor: 400 rows/s" in table and "0.75" in table and "MISSED" in table


@pytest.mark.parametrize(
    "body, problem",
    [
        (FINISHES + "raise SystemExit('FAILED: rows lost')", "exited with 1"),
        ("print('connected')\n", "printed 0 of its 2 figures"),
        (FINISHES.replace("300.0", "float('nan')"), "printed a figure without a value"),
        ("import time\ntime.sleep(60)\n", "stopped after the 2.0 s limit"),
    ],
    ids=["crashes", "prints-no-figures", "figure-without-value", "hangs"],
)
def test_a_bench_that_does_not_finish_fails_the_run(tmp_path, capsys, body, problem):
    entries = (bench_script(tmp_path, "broken", body), bench_script(tmp_path, "fine", FINISHES))

    code, document, printed = run_benches(tmp_path, capsys, *entries, timeout=2)

    assert code == 1
    assert document["runs"]["broken"]["finished"] is False
    assert problem in document["runs"]["broken"]["problem"]
    assert document["runs"]["fine"]["finished"] is True  # the others still run and are reported
    assert "broken" in printed.err


def test_every_bench_entry_names_a_script_of_bench_and_the_smoke_covers_every_script():
    scripts = {entry.script for entry in run.ENTRIES}
    assert all((run.BENCH / script).is_file() for script in scripts)
    assert {entry.script for entry in run.ENTRIES if entry.smoke is not None} == scripts
    shipped = {path.name for path in run.BENCH.glob("*.py")}
    helpers = {"__init__.py", "common.py", "settings.py", "floor.py", "loadgen.py", "figures.py", "results.py"}
    tools = {"run.py", "readme.py", "compare.py", "daphne_reuseport.py", "frame_sender.py"}
    assert shipped - helpers - tools == scripts  # a new bench must be added to the runner


def published_document(tmp_path, capsys, value=300.0, smoke=False):
    entry = bench_script(tmp_path, "fine", FINISHES.replace("300.0", repr(value)))
    code, document, _ = run_benches(tmp_path, capsys, entry)
    assert code == 0
    document["smoke"] = smoke
    path = tmp_path / f"run-{value}.json"
    results.save(document, path)
    return path


def test_the_readme_table_is_rewritten_between_its_markers_from_results(tmp_path, capsys):
    page = tmp_path / "README.md"
    page.write_text(f"# Title\n\nbefore\n{readme.START}\n| old | typed |\n{readme.END}\nafter\n")
    published = tmp_path / "published.json"
    first, second = published_document(tmp_path, capsys, 300.0), published_document(tmp_path, capsys, 333.0)

    assert readme.main([str(first), str(second)], readme=page, published_path=published) == 0

    text = page.read_text()
    assert text.startswith("# Title\n\nbefore\n") and text.endswith("after\n")
    assert "typed" not in text
    assert "| fine | speed | 333 rows/s | floor: 400 rows/s | 0.83 | ratio >= 0.5 | met |" in text  # the later run
    assert [record["value"] for record in results.load(published)["figures"]] == [333.0, 12.5]
    assert readme.main(["--check"], readme=page, published_path=published) == 0
    page.write_text(text.replace("333 rows/s", "999 rows/s"))
    assert readme.main(["--check"], readme=page, published_path=published) == 1


def test_a_smoke_run_is_never_published(tmp_path, capsys):
    page = tmp_path / "README.md"
    page.write_text(f"{readme.START}\n{readme.END}\n")
    smoke = published_document(tmp_path, capsys, smoke=True)

    with pytest.raises(SystemExit, match="smoke run"):
        readme.main([str(smoke)], readme=page, published_path=tmp_path / "published.json")


def test_the_repository_readme_shows_the_published_results():
    assert readme.main(["--check"]) == 0


def test_compare_puts_two_runs_side_by_side(tmp_path, capsys):
    old, new = published_document(tmp_path, capsys, 300.0), published_document(tmp_path, capsys, 450.0)

    rows = compare.side_by_side(results.load(old), results.load(new))

    assert rows[0] == ["fine", "speed", "300 rows/s", "450 rows/s", "1.50", "0.75", "1.12"]
    assert rows[1][:5] == ["fine", "latency", "12.5 ms", "12.5 ms", "1.00"]


def test_a_figure_line_round_trips(capsys):
    printed = figure("b", "f", 5.0, "ms", baseline=2.0, target=("<=", 2), on="ratio")
    line = capsys.readouterr().out
    assert parse(line) == printed
    assert printed["ratio"] == 2.5 and printed["met"] is False
    assert parse("plain output\n") is None


def test_the_runner_refuses_an_unknown_bench(capsys):
    with pytest.raises(SystemExit):
        run.main(["--only", "no_such_bench"])
    assert "no_such_bench" in capsys.readouterr().err
