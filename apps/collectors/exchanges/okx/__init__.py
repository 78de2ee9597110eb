"""OKX V5: USDT-margined swaps (``perps``) and spot, public WebSocket and REST.

Modules as in every exchange folder: ``protocol`` (the public and business
WebSocket endpoints, channels, subscribe/ping frames, limits), ``parser``
(frames and REST answers -> events; every number and time arrives as a
string), ``symbols`` (Kirby trading pair <-> OKX instrument id), ``history``
(paged REST history for backfills: history-candles, funding-rate-history,
rubik open-interest history; and history-trades, the trades a stream missed
while it reconnected).
"""
