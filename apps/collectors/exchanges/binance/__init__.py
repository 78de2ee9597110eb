"""Binance Spot and Binance USD-M futures: REST history only (no live stream here).

Modules as in every exchange folder, minus the live parts: ``protocol``
(REST endpoints, intervals, limits; ``LIVE = False``), ``parser`` (kline rows
and kline stream payloads -> CandleUpdate), ``symbols`` (Kirby trading pair
-> Binance market and symbol), ``history`` (paged kline client for
backfills). Kirby's training database is filled from here.
"""
