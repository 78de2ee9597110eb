"""Settings for the benchmark servers: Kirby's own, plus the floor route, run as in production.

DEBUG is switched off after import so Django does not wrap every cursor to
record queries (production does not either); ALLOWED_HOSTS keeps the local
defaults that DEBUG=true in the environment produced.
"""

from kirby.settings import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.floor"
