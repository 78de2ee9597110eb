"""deploy/prometheus and deploy/grafana: checked by promtool, and naming only metrics that exist.

promtool comes with Debian's ``prometheus`` package, installed by ``make test``
(target ``tools``). Metric names are taken from what real processes publish:
a Kirby web process (Daphne) and Debian's prometheus-node-exporter.
"""

import asyncio
import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from apps.access.models import ADMIN, READ
from tests.conftest import make_key
from tests.streaming.servers import Daphne
from tests.waiting import wait_for

DEPLOY = Path(settings.BASE_DIR) / "deploy"
PROMTOOL = "/usr/bin/promtool"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
METRIC = re.compile(r"\b(?:(?:kirby|django|process|python|node)_[a-zA-Z0-9_]+|up)\b(?!\s*\()")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("_count", "_sum", "_created")}  # fmt: skip


def promtool(*args):
    assert Path(PROMTOOL).exists(), "promtool is missing: `make tools` installs Debian's prometheus package"
    result = subprocess.run([PROMTOOL, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_promtool_accepts_the_scrape_config_and_the_alert_rules():
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in promtool("check", "rules", *[str(p) for p in (DEPLOY / "prometheus/rules").glob("*.yml")])


def test_the_stream_stale_and_ingest_stopped_alerts_fire_when_they_should():
    assert "SUCCESS" in promtool("test", "rules", "tests/kirby_test.yml")


def published_names(text):
    """Every sample name the text publishes or would publish (families without samples yet included)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def fetch(url, key=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


@pytest.fixture
def node_exporter_names(tmp_path):
    log = tmp_path / "node-exporter.log"
    with open(log, "w") as output:  # it binds port 0 itself and logs the address it got
        process = subprocess.Popen(
            [NODE_EXPORTER, "--web.listen-address=127.0.0.1:0"], stdout=output, stderr=subprocess.STDOUT
        )
    try:

        def listening():
            assert process.poll() is None, f"node exporter exited:\n{log.read_text()}"
            return re.search(r'msg="Listening on" address=(127\.0\.0\.1:[0-9]+)', log.read_text())

        address = wait_for(listening, 20, "the node exporter to listen").group(1)
        deadline = time.monotonic() + 20
        while True:
            try:
                return published_names(fetch(f"http://{address}/metrics"))
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "node exporter did not start"
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_dashboards_and_alerts_name_only_metrics_that_kirby_and_the_node_exporter_publish(
    tmp_path, node_exporter_names
):
    admin = make_key("root", scopes=[READ, ADMIN])
    daphne = Daphne(tmp_path / "daphne.log")
    try:
        asyncio.run(daphne.ready())
        base = f"http://127.0.0.1:{daphne.port}"
        fetch(base + "/api/status", admin)  # database queries, so django_db_* have samples
        kirby_names = published_names(fetch(base + "/metrics"))
    finally:
        daphne.stop()
    known = kirby_names | node_exporter_names | {"up"}

    expressions = {}
    for path in sorted((DEPLOY / "grafana/dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        assert board["uid"] and board["title"] and board["panels"], path.name
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "kirby-prometheus", f"{path.name}: {panel['title']}"
            for target in panel["targets"]:
                expressions[f"{path.name}: {panel['title']}"] = target["expr"]
    rules = (DEPLOY / "prometheus/rules/kirby.yml").read_text()
    expressions.update(
        {
            f"rule {m.group(1)}": m.group(2)
            for m in re.finditer(r"alert: (\w+)\n\s+expr: (.+?)\n\s+(?:for|labels)", rules, re.S)
        }
    )  # noqa: E501

    assert len([name for name in expressions if name.endswith(".json") or ".json:" in name]) >= 25
    used = set()
    for where, expression in expressions.items():
        names = set(METRIC.findall(re.sub(r'"[^"]*"', "", expression)))
        assert names, f"{where}: no metric in {expression!r}"
        assert names <= known, f"{where} uses metrics nobody publishes: {sorted(names - known)}"
        used |= names
    kirby_used = {name for name in used if name.startswith("kirby_")}
    assert len(kirby_used) >= 15, sorted(kirby_used)
    titles = {json.loads(p.read_text())["title"] for p in (DEPLOY / "grafana/dashboards").glob("*.json")}
    assert titles == {"Kirby: API performance", "Kirby: data collection health", "Kirby: database", "Kirby: system"}
