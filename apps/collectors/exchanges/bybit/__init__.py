"""Bybit V5: linear perpetuals (``perps``) and spot, public WebSocket and REST.

Modules as in every exchange folder: ``protocol`` (endpoints, topics,
subscribe/ping frames, limits; ``LIVE = False`` until the live stream is
wired), ``parser`` (frames and REST answers -> events, tickers deltas merged
into the last snapshot), ``symbols`` (Kirby trading pair <-> Bybit category
and symbol), ``history`` (paged REST history for backfills: kline,
funding/history, open-interest).
"""
