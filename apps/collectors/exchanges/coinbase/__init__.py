"""Coinbase Advanced Trade: spot only, public WebSocket and REST.

Modules as in every exchange folder: ``protocol`` (endpoint, channels,
subscribe frames, limits, REST granularities), ``parser`` (frames and REST
answers -> events; the per-connection ``TradeCandles`` that builds candles
from ``market_trades`` and watches ``sequence_num``; trades as TradeUpdate, ``l2_data`` as book events),
``book`` (the level2 book rule), ``symbols`` (Kirby
trading pair <-> Coinbase product id), ``history`` (paged REST candles for
backfills and for checking built candles).
"""
