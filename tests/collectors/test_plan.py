"""Which subscriptions the Hyperliquid streams hold, from the active starlistings."""

from apps.collectors.exchanges import get_adapter
from apps.collectors.plan import connections_needed, plan_for
from apps.markets.models import Exchange, MarketType, QuoteCurrency, TradingPair

HL = get_adapter("hyperliquid")


def test_every_active_starlisting_and_perp_pair_gets_a_subscription(world):
    plan = plan_for(HL, 0)

    assert sorted(plan.subscriptions.values(), key=str) == sorted(
        [
            {"type": "candle", "coin": "BTC", "interval": "1m"},
            {"type": "candle", "coin": "BTC", "interval": "1h"},
            {"type": "candle", "coin": "SOL", "interval": "1m"},
            {"type": "activeAssetCtx", "coin": "BTC"},
            {"type": "activeAssetCtx", "coin": "SOL"},
        ],
        key=str,
    )
    assert plan.candles[("BTC", "1h")] == [world.btc_1h.id]
    assert plan.contexts == {"BTC": [world.btc_pair.id], "SOL": [world.sol_pair.id]}


def test_inactive_starlistings_and_pairs_are_not_collected(world):
    world.btc_1h.active = False
    world.btc_1h.save()
    world.sol_pair.active = False
    world.sol_pair.save()

    plan = plan_for(HL, 0)

    assert set(plan.candles) == {("BTC", "1m")}
    assert set(plan.contexts) == {"BTC"}


def test_intervals_hyperliquid_does_not_serve_are_reported_not_subscribed(world):
    world.starlisting(world.btc_pair, "6h")

    plan = plan_for(HL, 0)

    assert ("BTC", "6h") not in plan.candles
    assert plan.unsupported == ["hyperliquid/BTC/USD/perps/6h"]


def test_spot_pairs_use_spot_names_and_have_no_funding(world):
    spot = MarketType.objects.create(name="spot", display_name="Spot")
    usdc = QuoteCurrency.objects.create(symbol="USDC", name="USD Coin")
    pair = TradingPair.objects.create(exchange=world.exchange, coin=world.sol, quote=usdc, market_type=spot)
    starlisting = world.starlisting(pair, "15m")

    plan = plan_for(HL, 0)

    assert plan.candles[("SOL/USDC", "15m")] == [starlisting.id]
    assert "SOL/USDC" not in plan.contexts


def test_subscriptions_are_split_across_connections(world, settings):
    settings.KIRBY_HYPERLIQUID_SUBSCRIPTIONS_PER_CONNECTION = 2

    plans = [plan_for(HL, i) for i in range(connections_needed(HL))]

    assert len(plans) == 3
    assert [len(p.subscriptions) for p in plans] == [2, 2, 1]
    keys = [k for p in plans for k in p.subscriptions]
    assert len(keys) == len(set(keys)) == 5
    assert plan_for(HL, 3).subscriptions == {}


def test_other_exchanges_are_not_subscribed(world):
    other = Exchange.objects.create(name="binance", display_name="Binance")
    pair = TradingPair.objects.create(exchange=other, coin=world.btc, quote=world.usd, market_type=world.perps)
    world.starlisting(pair, "5m")

    assert ("BTC", "5m") not in plan_for(HL, 0).candles
