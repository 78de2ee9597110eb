"""Which exchange subscriptions a stream holds, and where their data goes.

Built from the active starlistings and trading pairs of one exchange, sorted
so every process computes the same split into connections of at most the
exchange's subscriptions-per-connection. An exchange with several endpoints
(Binance: USD-M futures and spot) gets connections per endpoint
(``protocol.endpoint(name)``; candles at ``protocol.candle_endpoint(name)``
where a venue serves them apart, as OKX does, and books at
``protocol.book_endpoint(name)``, as Binance USD-M's ``/public`` route);
stream ``index`` counts across them.
"""

from dataclasses import dataclass, field

import orjson

from apps.markets.models import Starlisting, TradingPair


@dataclass
class Plan:
    subscriptions: dict = field(default_factory=dict)  # stable text key -> subscription
    candles: dict = field(default_factory=dict)  # (coin, interval) -> [starlisting id]
    contexts: dict = field(default_factory=dict)  # coin -> [trading pair id]
    trades: dict = field(default_factory=dict)  # coin -> [trading pair id]
    books: dict = field(default_factory=dict)  # coin -> [BookRoute]
    unsupported: list = field(default_factory=list)  # starlistings the exchange cannot serve
    connections: int = 0
    endpoint: str = ""  # which of the exchange's endpoints this connection talks to


@dataclass(frozen=True)
class BookRoute:
    """Where a pair's book goes: Redis under its names, stored ``depth`` levels every ``every_seconds``."""

    trading_pair_id: int
    names: tuple  # (exchange, coin, quote, market_type)
    depth: int
    every_seconds: float


def subscription_key(subscription):
    """The stable text key of a subscription in ``Plan.subscriptions`` (and a stream's subscribed ones)."""
    return orjson.dumps(subscription, option=orjson.OPT_SORT_KEYS).decode()


_key = subscription_key


def all_subscriptions(adapter):
    """([(subscription, kind, route)] sorted, routes by kind, unsupported) for the exchange.

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
    trades, books = {}, {}
    book_endpoint = getattr(protocol, "book_endpoint", protocol.endpoint)
    for pair_id, coin, quote, market_type, *ticks in pairs.values_list(
        "id", "coin__symbol", "quote__symbol", "market_type__name",
        "collect_trades", "collect_orderbook", "orderbook_depth", "orderbook_every_seconds",
    ):  # fmt: skip
        name = symbols.coin_name(coin, quote, market_type)
        if symbols.has_asset_context(market_type):
            contexts.setdefault(name, []).append(pair_id)
            subscription = protocol.context_subscription(name)
            wanted[(protocol.endpoint(name), _key(subscription))] = (subscription, "context", name)
        collect_trades, collect_book, depth, every = ticks
        path = f"{adapter.name}/{coin}/{quote}/{market_type}"
        for on, kind, make, routes, route, where in (
            (collect_trades, "trades", "trades_subscription", trades, pair_id, protocol.endpoint),
            (collect_book, "book", "book_subscription", books,
             BookRoute(pair_id, (adapter.name, coin, quote, market_type), depth, every), book_endpoint),
        ):  # fmt: skip
            if not on:
                continue
            if not hasattr(protocol, make):
                unsupported.append(f"{path} ({kind} not collected from {adapter.name} yet)")
                continue
            routes.setdefault(name, []).append(route)
            subscription = getattr(protocol, make)(name)
            wanted[(where(name), _key(subscription))] = (subscription, kind, name)
    routes = {"candle": candles, "context": contexts, "trades": trades, "book": books}
    return [(k[0], *wanted[k]) for k in sorted(wanted)], routes, sorted(unsupported)


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
    subscriptions, routes, unsupported = all_subscriptions(adapter)
    connections = _connections(adapter, subscriptions)
    endpoint, mine = connections[index] if index < len(connections) else ("", [])
    plan = Plan(unsupported=unsupported, connections=len(connections), endpoint=endpoint)
    targets = {"candle": plan.candles, "context": plan.contexts, "trades": plan.trades, "book": plan.books}
    for subscription, kind, route in mine:
        plan.subscriptions[_key(subscription)] = subscription
        targets[kind][route] = routes[kind][route]
    return plan


def connections_needed(adapter):
    return len(_connections(adapter, all_subscriptions(adapter)[0]))
