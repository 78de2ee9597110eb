"""A world in the training database: Binance BTC/USDT perps and spot, as training_stars.yaml lists them."""

from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

TRAINING = "training"
BOTH = ["default", TRAINING]


class TrainingWorld:
    def __init__(self, using=TRAINING):
        self.using = using
        objects = lambda model: model.objects.using(using)  # noqa: E731
        self.exchange = objects(Exchange).create(name="binance", display_name="Binance")
        self.perps = objects(MarketType).create(name="perps", display_name="Perpetual Futures")
        self.spot = objects(MarketType).create(name="spot", display_name="Spot")
        self.usdt = objects(QuoteCurrency).create(symbol="USDT", name="Tether USD")
        self.btc = objects(Coin).create(symbol="BTC", name="Bitcoin")
        self.perp_pair = objects(TradingPair).create(
            exchange=self.exchange, coin=self.btc, quote=self.usdt, market_type=self.perps
        )
        self.spot_pair = objects(TradingPair).create(
            exchange=self.exchange, coin=self.btc, quote=self.usdt, market_type=self.spot
        )
        self.perp_1m = self.starlisting(self.perp_pair, "1m")
        self.perp_1h = self.starlisting(self.perp_pair, "1h")
        self.spot_1m = self.starlisting(self.spot_pair, "1m")

    def starlisting(self, pair, interval):
        return Starlisting.objects.using(self.using).create(
            trading_pair=pair, interval=Interval.objects.using(self.using).get(name=interval)
        )
