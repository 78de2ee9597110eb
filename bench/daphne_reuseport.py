"""Daphne whose TCP listener sets SO_REUSEPORT, so several Daphne processes share one address.

    python bench/daphne_reuseport.py -b 127.0.0.1 -p PORT APPLICATION   (Daphne's own arguments)

Each process binds the same host and port; the kernel hands every new
connection to one of them (by a hash of the connection's addresses). So
clients see one address and no proxy sits in the path whose own cost would
be measured along with Kirby's; in production nginx plays that part.

With ``KIRBY_BENCH_PROFILE`` set to a directory, the process runs under
cProfile and writes ``daphne-<pid>.prof`` there when it stops (SIGTERM):
where a server spends its time per delivery (``websocket_fanout.py --profile``).
"""

import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main():
    from daphne.cli import CommandLineInterface  # installs Twisted's asyncio reactor first
    from twisted.internet import tcp

    create = tcp.Port.createInternetSocket

    def create_shared(self):
        listener = create(self)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        return listener

    tcp.Port.createInternetSocket = create_shared
    profile_dir = os.environ.get("KIRBY_BENCH_PROFILE")
    if not profile_dir:
        CommandLineInterface.entrypoint()
        return
    import cProfile

    profiler = cProfile.Profile()
    try:
        profiler.runcall(CommandLineInterface.entrypoint)
    finally:
        profiler.dump_stats(str(Path(profile_dir) / f"daphne-{os.getpid()}.prof"))


if __name__ == "__main__":
    main()
