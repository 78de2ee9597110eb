"""Binance Spot and Binance USD-M futures: live streams and REST history.

Modules as in every exchange folder: ``protocol`` (endpoints, frames,
intervals, limits), ``parser`` (frames and REST rows -> events),
``symbols`` (Kirby trading pair -> Binance market and symbol), ``history``
(paged REST history for backfills and repair, and the open-interest poll).
One adapter, two endpoints: ``usdm`` for perps, ``spot`` for spot.
"""
