"""The dashboard in real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, installed by
``make test``), served by a real Daphne process: log in through the admin, see a stale stream in red
with its reason, and watch the page update itself when the stream recovers."""

import asyncio
import shutil
import tempfile
import time

import pytest
from django.contrib.auth import get_user_model
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from apps.collectors.stream_documents import report_stream
from apps.marketdata import live_books
from apps.markets.models import TradingPair
from tests.streaming.servers import Daphne

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
RED = "rgba(198, 40, 40, 1)"


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="kirby-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1000,500"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def server(tmp_path):
    # The book put in Redis below is not republished: it must not turn stale before a slow browser has read it.
    daphne = Daphne(tmp_path / "daphne.log", KIRBY_DASHBOARD_REFRESH_SECONDS="1", KIRBY_BOOK_STALE_SECONDS="60")
    asyncio.run(daphne.ready())
    yield daphne
    daphne.stop()


def stream(**changes):
    now = time.time()
    document = {"exchange": "hyperliquid", "running": True, "connected": True, "connected_since": now - 300,
                "last_message_at": now - 1, "heartbeat_at": now, "messages": 1234, "reconnects": 0,
                "last_error": None, "last_error_at": None, "unsupported": []}  # fmt: skip
    report_stream("hyperliquid/0", {**document, **changes})


def row_now(driver):
    """The stream row's class and reason in one script call: the page redraws the table while a test reads it."""
    return driver.execute_script(
        "const r = document.querySelector('tr[data-name=\"hyperliquid/0\"]');"
        "return r && [r.className, r.querySelector('td.reason').textContent];"
    )


def row(driver):
    return driver.find_element(By.CSS_SELECTOR, 'tr[data-name="hyperliquid/0"]')


def test_the_dashboard_shows_a_stale_stream_in_red_and_updates_by_itself(browser, server, world_committed):
    get_user_model().objects.create_user("operator", password="dashboard-pass-1", is_staff=True)
    stream(heartbeat_at=time.time() - 90, last_message_at=time.time() - 95)
    base = f"http://127.0.0.1:{server.port}"

    browser.get(base + "/dashboard")
    assert "/admin/login/" in browser.current_url
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys("dashboard-pass-1")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda d: d.current_url.rstrip("/").endswith("/dashboard"))

    stale = row(browser)
    assert "state-red" in stale.get_attribute("class")
    assert stale.find_element(By.CSS_SELECTOR, "td.state").value_of_css_property("color") == RED
    assert stale.find_element(By.CSS_SELECTOR, "td.reason").text.startswith("not running: no heartbeat for")
    assert browser.find_element(By.ID, "overall").text == "red"

    browser.execute_script("window.kirbyNotReloaded = true; window.scrollTo(0, 150);")
    scrolled = browser.execute_script("return window.scrollY;")
    assert scrolled > 0
    stream()  # the stream recovers

    green = WebDriverWait(browser, 15).until(lambda d: (now := row_now(d)) and "state-green" in now[0] and now)
    assert green[1].strip().startswith("receiving, last message")
    assert browser.execute_script("return window.kirbyNotReloaded === true;")
    assert browser.execute_script("return window.scrollY;") == scrolled
    assert browser.find_element(By.ID, "fetch-error").get_attribute("hidden") is not None
    assert browser.find_elements(By.CSS_SELECTOR, "#plot-freshness svg rect.bar")  # redrawn by the script
    labels = [node.text for node in browser.find_elements(By.CSS_SELECTOR, "#plot-freshness svg text")]
    assert "hyperliquid/BTC/USD/perps/1m" in labels

    # A pair's book goes out of sync: its row in "Trades and books" turns amber by itself, and green once rebuilt.
    TradingPair.objects.filter(id=world_committed.btc_pair.id).update(collect_trades=True, collect_orderbook=True)
    names = {"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps"}
    try:
        live_books.mark_out_of_sync(names, "sequence gap: rebuilding")
        amber = WebDriverWait(browser, 15).until(lambda d: (now := book_row_now(d)) and "state-amber" in now[0] and now)
        assert amber[1] == "book out of sync: sequence gap: rebuilding"
        live_books.put_book(names, time_=None, sequence=1, bids=[["97000", "1"]], asks=[["97001", "1"]])
        green = WebDriverWait(browser, 15).until(lambda d: (now := book_row_now(d)) and "state-green" in now[0] and now)
        assert green[1] == "0 trades stored in the last minute; book in sync"
    finally:
        live_books.client().hdel(live_books.STATES_KEY, "hyperliquid/btc/usd/perps")
        live_books.client().delete(live_books.book_key(*names.values()))


def book_row_now(driver):
    return driver.execute_script(
        "const r = document.querySelector('#ticks-body tr[data-name=\"hyperliquid/BTC/USD/perps\"]');"
        "return r && [r.className, r.querySelector('td.reason').textContent];"
    )
