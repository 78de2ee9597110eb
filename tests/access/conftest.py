"""Keys in every state API.md names, and clients that send them."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.access import keys

CANDLES = "/candles/hyperliquid/BTC/USD/perps/1m"


def issue(username="alice", **options):
    user, _ = get_user_model().objects.get_or_create(username=username)
    return keys.issue(user, options.pop("name", "bot"), **options)


@pytest.fixture
def expired_key(db):
    return issue(expires_at=timezone.now() - timedelta(seconds=1))[1]


# The /ws tests open connections the way the stream's own tests do.
from tests.streaming.conftest import connect, stream_key, stream_world  # noqa: E402, F401
