"""A local exchange simulator that Kirby's collectors and tests talk to over real sockets.

It serves Hyperliquid's WebSocket and ``/info`` REST API over a deterministic market (``market``),
on a virtual clock (``clock``), with injectable faults (``faults``, ``control``) and a replay mode
(``replay``). Start it with ``manage.py exchange_simulator``, ``python -m apps.collectors.simulator``
or, in tests, ``server.run_in_thread(SimulatorConfig(port=0))``.
"""
