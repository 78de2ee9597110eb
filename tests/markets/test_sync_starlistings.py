"""manage.py sync_starlistings: fresh database, re-runs, prune, dry run, bad files."""

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.markets.models import Coin, Exchange, Starlisting, TradingPair

SHIPPED = Path(settings.BASE_DIR) / "config" / "starlistings.yaml"
TRAINING = Path(settings.BASE_DIR) / "config" / "training_stars.yaml"

BASE = """
exchanges:
  - {name: hyperliquid, display_name: Hyperliquid, active: true}
coins:
  - {symbol: BTC, name: Bitcoin, active: true}
  - {symbol: SOL, name: Solana, active: true}
quote_currencies:
  - {symbol: USD, name: US Dollar, active: true}
market_types:
  - {name: perps, display_name: Perpetuals, active: true}
"""


def sync(*args, path=None):
    out = StringIO()
    call_command("sync_starlistings", *(["--file", str(path)] if path else []), *args, stdout=out)
    return out.getvalue()


def write(tmp_path, text, name="starlistings.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def star(coin, intervals, active="true"):
    return f"  - {{exchange: hyperliquid, coin: {coin}, quote: USD, market_type: perps, intervals: [{intervals}], active: {active}}}\n"  # noqa: E501


def listing():
    return sorted(str(s) for s in Starlisting.objects.filter(active=True))


def test_a_fresh_database_gets_every_shipped_starlisting(db):
    output = sync()

    intervals = ("1m", "15m", "4h", "1d")
    assert listing() == sorted(
        [f"hyperliquid/{coin}/USD/perps/{interval}" for coin in ("BTC", "SOL") for interval in intervals]
        + [f"{venue}/{coin}/USDT/{market}/{interval}" for venue in ("binance", "bybit", "okx")
           for coin in ("BTC", "ETH") for market in ("perps", "spot") for interval in intervals]
        + [f"coinbase/{coin}/USD/spot/{interval}" for coin in ("BTC", "ETH") for interval in intervals]
    )  # fmt: skip
    assert not Starlisting.objects.filter(active=False).exists()
    assert TradingPair.objects.count() == 16
    # Binance, Bybit, OKX and Coinbase ship switched off: their starlistings exist, nothing is collected until the
    # exchange is activated.
    for venue in ("binance", "bybit", "okx", "coinbase"):
        assert Exchange.objects.get(name=venue).active is False
    assert "93 change(s)" in output


def test_running_it_twice_changes_nothing(db):
    sync()
    before = list(Starlisting.objects.values_list("id", "trading_pair_id", "interval_id", "active", "updated_at"))

    output = sync()

    assert "no changes" in output
    assert (
        list(Starlisting.objects.values_list("id", "trading_pair_id", "interval_id", "active", "updated_at")) == before
    )


def test_display_names_and_active_flags_are_updated(db, tmp_path):
    sync(path=write(tmp_path, BASE + "starlistings:\n" + star("BTC", "1m")))
    renamed = BASE.replace("display_name: Hyperliquid", "display_name: Hyperliquid DEX").replace("Bitcoin", "Bitcoin!")

    output = sync(path=write(tmp_path, renamed + "starlistings:\n" + star("BTC", "1m", active="false")))

    assert Exchange.objects.get(name="hyperliquid").display_name == "Hyperliquid DEX"
    assert Coin.objects.get(symbol="BTC").name == "Bitcoin!"
    assert Starlisting.objects.get().active is False
    assert "updated starlisting hyperliquid/BTC/USD/perps/1m: active=False" in output


def test_new_intervals_add_starlistings_to_an_existing_pair(db, tmp_path):
    sync(path=write(tmp_path, BASE + "starlistings:\n" + star("BTC", "1m")))

    sync(path=write(tmp_path, BASE + "starlistings:\n" + star("BTC", "1m, 5m")))

    assert listing() == ["hyperliquid/BTC/USD/perps/1m", "hyperliquid/BTC/USD/perps/5m"]
    assert TradingPair.objects.count() == 1


def test_prune_deactivates_starlistings_no_longer_listed_and_keeps_them(db, tmp_path):
    sync(path=write(tmp_path, BASE + "starlistings:\n" + star("BTC", "1m, 15m") + star("SOL", "1m")))
    smaller = write(tmp_path, BASE + "starlistings:\n" + star("BTC", "1m"))

    without_prune = sync(path=smaller)
    assert len(listing()) == 3 and "no changes" in without_prune

    output = sync("--prune", path=smaller)

    assert listing() == ["hyperliquid/BTC/USD/perps/1m"]
    assert Starlisting.objects.count() == 3
    assert TradingPair.objects.get(coin__symbol="SOL").active is False
    assert "deactivated starlisting hyperliquid/SOL/USD/perps/1m" in output


def test_dry_run_shows_changes_and_makes_none(db):
    output = sync("--dry-run")

    assert "would create starlisting hyperliquid/BTC/USD/perps/1m" in output
    assert "Dry run" in output
    assert Starlisting.objects.count() == 0 and Exchange.objects.count() == 0


def test_coins_match_case_insensitively_and_keep_the_files_spelling(db, tmp_path):
    Coin.objects.create(symbol="btc", name="old")

    sync(path=write(tmp_path, BASE + "starlistings:\n" + star("BTC", "1m")))

    assert list(Coin.objects.filter(symbol__iexact="btc").values_list("symbol", "name")) == [("BTC", "Bitcoin")]


def test_builder_deployed_coin_names_are_accepted(db, tmp_path):
    text = BASE.replace("coins:\n", "coins:\n  - {symbol: 'xyz:TSLA', name: Tesla, active: true}\n")

    sync(path=write(tmp_path, text + "starlistings:\n" + star("'xyz:TSLA'", "1h")))

    assert listing() == ["hyperliquid/xyz:TSLA/USD/perps/1h"]


def test_the_1x_training_stars_file_is_accepted(db):
    sync(path=TRAINING)

    assert Starlisting.objects.count() == 24
    assert TradingPair.objects.filter(market_type__name="spot").count() == 1


BAD_FILES = {
    "unknown interval": (
        BASE + "starlistings:\n" + star("BTC", "1m, 2m"),
        "starlistings[0]: field 'intervals': unknown interval '2m'",
    ),
    "missing field": (
        BASE + "starlistings:\n  - {exchange: hyperliquid, coin: BTC, market_type: perps, intervals: [1m]}\n",
        "starlistings[0]: missing field 'quote'",
    ),
    "undefined coin": (
        BASE + "starlistings:\n" + star("BTC", "1m") + star("ETH", "1m"),
        "starlistings[1]: field 'coin': 'ETH' is not defined in coins",
    ),
    "yaml syntax": (BASE + "starlistings:\n  - {exchange: hyperliquid, coin: [BTC\n", "YAML syntax error"),
    "no starlistings": (BASE, "starlistings: missing section"),
    "coin without symbol": (
        BASE.replace("symbol: SOL", "sym: SOL") + "starlistings: []\n",
        "coins[1]: missing field 'symbol'",
    ),  # noqa: E501
    "empty intervals": (BASE + "starlistings:\n" + star("BTC", ""), "field 'intervals' must be a non-empty list"),
    "active not a flag": (
        BASE + "starlistings:\n" + star("BTC", "1m", active="sometimes"),
        "field 'active' must be true or false",
    ),  # noqa: E501
    "duplicate pair": (
        BASE + "starlistings:\n" + star("BTC", "1m") + star("btc", "5m"),
        "starlistings[1]: trading pair hyperliquid/btc/USD/perps is already listed at starlistings[0]",
    ),  # noqa: E501
    "not a mapping": ("- just\n- a list\n", "must be a YAML mapping"),
    "trades not a flag": (
        BASE + "starlistings:\n" + star("BTC", "1m").replace("}", ", trades: yes please}"),
        "starlistings[0]: field 'trades' must be true or false",
    ),
    "book depth out of range": (
        BASE + "starlistings:\n" + star("BTC", "1m").replace("}", ", orderbook: true, orderbook_depth: 5000}"),
        "starlistings[0]: field 'orderbook_depth' must be from 1 to 1000, got 5000",
    ),
    "book cadence not a number": (
        BASE + "starlistings:\n" + star("BTC", "1m").replace("}", ", orderbook_every_seconds: often}"),
        "field 'orderbook_every_seconds' must be a float from 0.1 to 3600",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_names_the_entry_and_field_and_changes_nothing(db, tmp_path, case):
    sync()
    before = listing()
    text, message = BAD_FILES[case]

    with pytest.raises(CommandError) as raised:
        sync("--prune", path=write(tmp_path, text))

    assert message in str(raised.value)
    assert "nothing was changed" in str(raised.value)
    assert listing() == before


def test_trades_and_books_are_switched_on_per_pair_and_off_by_default(db, tmp_path):
    books = ", trades: true, orderbook: true, orderbook_depth: 50, orderbook_every_seconds: 0.5}"
    sync(path=write(tmp_path, BASE + "starlistings:\n" + star("BTC", "1m").replace("}", books) + star("SOL", "1m")))
    switches = ("collect_trades", "collect_orderbook", "orderbook_depth", "orderbook_every_seconds")

    assert dict(TradingPair.objects.values_list("coin__symbol", "collect_trades")) == {
        "BTC": True,
        "SOL": False,
    }
    assert TradingPair.objects.values_list(*switches).get(coin__symbol="BTC") == (True, True, 50, 0.5)
    assert TradingPair.objects.values_list(*switches).get(coin__symbol="SOL") == (False, False, 20, 1.0)

    # The file is the truth: taking the keys out switches the pair off again.
    sync(path=write(tmp_path, BASE + "starlistings:\n" + star("BTC", "1m") + star("SOL", "1m")))
    assert TradingPair.objects.values_list(*switches).get(coin__symbol="BTC") == (False, False, 20, 1.0)


def test_a_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="file not found"):
        sync(path=tmp_path / "absent.yaml")


def test_all_problems_of_a_file_are_reported_at_once(db, tmp_path):
    text = BASE + "starlistings:\n" + star("BTC", "7m") + star("DOGE", "1m")

    with pytest.raises(CommandError) as raised:
        sync(path=write(tmp_path, text))

    assert "starlistings[0]" in str(raised.value) and "starlistings[1]" in str(raised.value)
