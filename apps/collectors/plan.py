"""Which exchange subscriptions a stream holds, and where their data goes.

Built from the active starlistings and trading pairs of one exchange, sorted
so every process computes the same split into connections of at most the
exchange's subscriptions-per-connection. An exchange with several endpoints
(Binance: USD-M futures and spot) gets connections per endpoint
(``protocol.endpoint(name)``; candles at ``protocol.candle_endpoint(name)``
where a venue serves them apart, as OKX does); stream ``index`` counts
across them.
"""

from dataclasses import dataclass, field

import orjson

from apps.markets.models import Starlisting, TradingPair


@dataclass
class Plan:
    subscriptions: dict = field(default_factory=dict)  # stable text key -> subscription
    candles: dict = field(default_factory=dict)  # (coin, interval) -> [starlisting id]
    contexts: dict = field(default_factory=dict)  # coin -> [trading pair id]
    unsupported: list = field(default_factory=list)  # starlistings the exchange cannot serve
    connections: int = 0
    endpoint: str = ""  # which of the exchange's endpoints this connection talks to


def _key(subscription):
    return orjson.dumps(subscription, option=orjson.OPT_SORT_KEYS).decode()


def all_subscriptions(adapter):
    """([(subscription, kind, route)] sorted, candle routes, context routes, unsupported) for the exchange.

    Sorted by endpoint first, so each endpoint's subscriptions are contiguous.
    """
    protocol, symbols = adapter.protocol, adapter.symbols
    candle_endpoint = getattr(protocol, "candle_endpoint", protocol.endpoint)
    candles, contexts, unsupported, wanted = {}, {}, [], {}
    starlistings = Starlisting.objects.filter(
        active=True, trading_pair__active=True, trading_pair__exchange__name=adapter.name,
        trading_pair__exchange__active=True,
    ).values_list("id", "trading_pair__coin__symbol", "trading_pair__quote__symbol",
                  "trading_pair__market_type__name", "interval__name")  # fmt: skip
    for starlisting_id, coin, quote, market_type, interval in starlistings:
        if interval not in protocol.INTERVALS:
            unsupported.append(f"{adapter.name}/{coin}/{quote}/{market_type}/{interval}")
            continue
        name = symbols.coin_name(coin, quote, market_type)
        candles.setdefault((name, interval), []).append(starlisting_id)
        subscription = protocol.candle_subscription(name, interval)
        wanted[(candle_endpoint(name), _key(subscription))] = (subscription, "candle", (name, interval))
    pairs = TradingPair.objects.filter(active=True, exchange__name=adapter.name, exchange__active=True)
    for pair_id, coin, quote, market_type in pairs.values_list(
        "id", "coin__symbol", "quote__symbol", "market_type__name"
    ):
        if symbols.has_asset_context(market_type):
            name = symbols.coin_name(coin, quote, market_type)
            contexts.setdefault(name, []).append(pair_id)
            subscription = protocol.context_subscription(name)
            wanted[(protocol.endpoint(name), _key(subscription))] = (subscription, "context", name)
    return [(k[0], *wanted[k]) for k in sorted(wanted)], candles, contexts, sorted(unsupported)


def _connections(adapter, subscriptions):
    """[(endpoint, [(subscription, kind, route)])], one entry per connection, in stream index order."""
    size = adapter.protocol.subscriptions_per_connection()
    by_endpoint = {}
    for endpoint, *rest in subscriptions:
        by_endpoint.setdefault(endpoint, []).append(rest)
    return [
        (endpoint, items[start : start + size])
        for endpoint, items in by_endpoint.items()
        for start in range(0, len(items), size)
    ]


def plan_for(adapter, index):
    """The plan of connection ``index`` (0-based); ``connections`` tells how many there are."""
    subscriptions, candles, contexts, unsupported = all_subscriptions(adapter)
    connections = _connections(adapter, subscriptions)
    endpoint, mine = connections[index] if index < len(connections) else ("", [])
    plan = Plan(unsupported=unsupported, connections=len(connections), endpoint=endpoint)
    for subscription, kind, route in mine:
        plan.subscriptions[_key(subscription)] = subscription
        if kind == "candle":
            plan.candles[route] = candles[route]
        else:
            plan.contexts[route] = contexts[route]
    return plan


def connections_needed(adapter):
    return len(_connections(adapter, all_subscriptions(adapter)[0]))
