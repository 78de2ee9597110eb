"""``python -m apps.collectors.simulator``: the simulator without Django, same options as the command."""

from .cli import main

main()
