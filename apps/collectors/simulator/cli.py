"""Command-line options shared by ``manage.py exchange_simulator`` and ``python -m apps.collectors.simulator``."""

import argparse

from .config import DEFAULT_COINS, SimulatorConfig
from .server import serve


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="Port to bind; 0 picks a free one (default: 8765)")
    parser.add_argument("--seed", type=int, default=42, help="Seed of the deterministic market (default: 42)")
    parser.add_argument("--speed", type=float, default=60.0, help="Virtual seconds per real second (default: 60)")
    parser.add_argument("--start", type=int, default=None, help="Virtual start time, epoch ms (default: now)")
    parser.add_argument(
        "--ctx-interval", type=float, default=0.5, help="Real seconds between activeAssetCtx pushes (default: 0.5)"
    )
    parser.add_argument(
        "--update-interval", type=float, default=0.1, help="Real seconds between candle pushes (default: 0.1)"
    )
    parser.add_argument(
        "--replay", action="append", default=[], metavar="FILE.ndjson", help="Replay these frames (repeatable)"
    )
    parser.add_argument("--history-limit", type=int, default=5000, help="Candles kept per coin and interval")
    parser.add_argument("--page-limit", type=int, default=500, help="Most items in one /info response")
    parser.add_argument(
        "--binance-connection-seconds", type=float, default=None,
        help="Real seconds after which Binance connections are cut, its 24-hour limit (default: 86400 / speed)",
    )  # fmt: skip
    parser.add_argument(
        "--coins", default=",".join(DEFAULT_COINS), help="Comma-separated coins listed by meta (default: BTC,ETH,SOL)"
    )


def config_from_options(options: dict) -> SimulatorConfig:
    return SimulatorConfig(
        host=options["host"],
        port=options["port"],
        seed=options["seed"],
        speed=options["speed"],
        start_ms=options["start"],
        ctx_interval=options["ctx_interval"],
        update_interval=options["update_interval"],
        replay=tuple(options["replay"] or ()),
        history_limit=options["history_limit"],
        page_limit=options["page_limit"],
        coins=tuple(coin.strip() for coin in options["coins"].split(",") if coin.strip()),
        binance_connection_seconds=options.get("binance_connection_seconds"),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m apps.collectors.simulator", description=__doc__)
    add_arguments(parser)
    config = config_from_options(vars(parser.parse_args(argv)))
    serve(config, lambda line: print(line, flush=True))
