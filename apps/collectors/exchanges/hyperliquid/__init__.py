"""Hyperliquid: perpetuals (and spot) over ``wss://api.hyperliquid.xyz/ws`` and ``POST /info``.

Modules (the same in every exchange folder): ``protocol`` (endpoints,
subscribe/unsubscribe/ping frames), ``parser`` (raw frame -> events),
``symbols`` (Kirby trading pair -> exchange symbol), ``history`` (REST
history client for backfills).
"""
