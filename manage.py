#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kirby.settings")
    from django.core.management import execute_from_command_line

    from lib.env import ConfigError

    try:
        execute_from_command_line(sys.argv)
    except ConfigError as error:
        sys.exit(f"Configuration error: {error}")


if __name__ == "__main__":
    main()
