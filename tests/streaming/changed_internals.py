"""Kirby's ASGI application in a Daphne whose Twisted transport lost an attribute the fast path relies on.

Stands in for a Daphne, Twisted or autobahn upgrade that renames a private
attribute: the fast path's check must find it missing and fall back.
"""

from apps.streaming import daphne_fastpath
from kirby.asgi import application  # noqa: F401  (what Daphne serves)

daphne_fastpath.TRANSPORT_ATTRIBUTES += ("_renamed_by_an_upgrade",)
