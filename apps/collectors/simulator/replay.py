"""Replay of recorded exchange frames (EXCHANGES.md section 7): file order, byte for byte.

Each non-empty line of an ``.ndjson`` file is one text frame; only the line terminator is removed.
Every connection gets the whole recording from the start, after its first subscribe.
"""

import asyncio
from pathlib import Path


def load_lines(paths) -> tuple[str, ...]:
    lines = []
    for path in paths:
        data = Path(path).read_bytes().decode("utf-8")
        lines.extend(line.removesuffix("\r") for line in data.split("\n") if line.removesuffix("\r"))
    return tuple(lines)


async def replay(connection, lines, spacing: float) -> None:
    """Send ``lines`` as data frames, one every ``spacing`` seconds, the first one at once."""
    for index, line in enumerate(lines):
        if index:
            await asyncio.sleep(spacing)
        async with connection.send_lock:
            await connection.send(line, data=True)
