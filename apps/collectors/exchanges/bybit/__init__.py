"""Bybit V5: linear perpetuals (``perps``) and spot, public WebSocket and REST.

Modules as in every exchange folder: ``protocol`` (endpoints, topics,
subscribe/ping frames, limits: one stream per category), ``parser`` (frames
and REST answers -> events; ``connection_parser`` keeps each connection's
tickers snapshots, so deltas are merged before anything is stored),
``symbols`` (Kirby trading pair <-> Bybit category
and symbol), ``history`` (paged REST history for backfills: kline,
funding/history, open-interest).
"""
