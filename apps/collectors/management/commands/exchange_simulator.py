from django.core.management.base import BaseCommand

from apps.collectors.simulator.cli import add_arguments, config_from_options
from apps.collectors.simulator.server import serve


class Command(BaseCommand):
    help = "Run the local exchange simulator (Hyperliquid WebSocket and REST) until SIGTERM or SIGINT."
    requires_system_checks = []

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        def announce(line):
            self.stdout.write(line)
            self.stdout.flush()

        serve(config_from_options(options), announce)
